"""``/favicon.ico``: a small icon, so the one request every browser makes is not a 404 in every log (BUG-086)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

# An "A" on Atom's admin blue; SVG, which every current browser accepts as a favicon.
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="6" fill="#417690"/>'
    '<path d="M9 25 16 7l7 18h-3.6l-1.5-4.2h-3.8L12.6 25zm6.1-7.3h1.8L16 14.6z" fill="#fff"/>'
    "</svg>"
)


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """The icon, cached for a day by browsers and proxies."""
    return HttpResponse(ICON, content_type="image/svg+xml")
