"""Comments on bugs: Markdown rendered on the server and sanitized, ``@username`` mentions resolved to users."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from atom.errors import DomainError
from atom.markup import markdown_html
from bugs.models import Bug, Comment
from bugs.signals import comment_posted

COMMENT_MAX_CHARS = 20_000
# "@name" not preceded by a character that would make it part of an e-mail address or a word; Django's
# usernames are letters, digits and @ . + - _ (a trailing full stop ends the sentence, not the name).
_MENTION = re.compile(r"(?<![\w.@+-])@([\w.+-]{1,150})")
_MENTIONS_MAX = 50


def comment_mentions(body: str) -> list[str]:
    """The usernames ``@``-mentioned in ``body``, in order of first appearance, without repeats."""
    names: list[str] = []
    for match in _MENTION.finditer(body):
        name = match.group(1).rstrip(".")
        if name and name not in names:
            names.append(name)
    return names[:_MENTIONS_MAX]


def _body_validate(body: Any) -> str:
    if not isinstance(body, str) or not body.strip():
        raise DomainError("A comment needs some text.", code="VALIDATION_ERROR", details={"body": ["This field may not be blank."]})
    if len(body) > COMMENT_MAX_CHARS:
        raise DomainError(f"A comment holds at most {COMMENT_MAX_CHARS} characters.", code="VALIDATION_ERROR")
    # Control characters, and lone surrogates (no UTF-8 can hold them, so neither the sanitizer nor the database can).
    if any(unicodedata.category(char) in ("Cc", "Cs") and char not in "\n\r\t" for char in body):
        raise DomainError("A comment may not hold control characters.", code="VALIDATION_ERROR")
    return body


@transaction.atomic
def comment_create(*, bug: Bug, author: Any, body: str) -> Comment:
    """Post a comment: stored with its sanitized HTML; once committed, ``comment_posted`` names the active
    users it mentions (unknown or inactive names are plain text and notify nobody)."""
    text = _body_validate(body)
    names = comment_mentions(text)
    mentioned = list(get_user_model().objects.filter(username__in=names, is_active=True).order_by("username")) if names else []
    comment = Comment.objects.create(
        bug=bug, author=author, body=text, html=markdown_html(text), mentions=[user.get_username() for user in mentioned]
    )
    transaction.on_commit(lambda: comment_posted.send(sender=Comment, comment=comment, mentioned=mentioned))
    return comment
