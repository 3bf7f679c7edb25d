"""WSGI entry point: Django's handler, building requests that survive any declared charset."""

import os
from typing import Any

import django
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest


class AtomWSGIRequest(WSGIRequest):
    """Django's request, except that a charset naming no text encoding does not crash it (BUG-051).

    Django keeps a declared charset that ``codecs.lookup`` knows, such as rot13 or zlib, and setting
    it re-reads the query string with it, which raises LookupError while the request is built, before
    any middleware. Such a charset is left to the JSON parser, which answers 415; the query string is
    read as UTF-8.
    """

    def _set_content_type_params(self, meta: Any) -> None:
        try:
            super()._set_content_type_params(meta)  # type: ignore[misc]  # private in the stubs, stable in Django
        except LookupError:
            self._encoding = None


class AtomWSGIHandler(WSGIHandler):
    request_class = AtomWSGIRequest


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atom.settings")
django.setup(set_prefix=False)
application = AtomWSGIHandler()
