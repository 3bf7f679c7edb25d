"""Markdown made safe for the admin: rendered on the server with markdown-it-py, then sanitized with nh3.

One function serves every place Atom shows text people or agents wrote as Markdown (bug comments, canvases).
Raw HTML in the source is escaped by the renderer, and the sanitizer's allow-list is the second wall: no
script, style, event handler, iframe or ``javascript:``/``data:`` URL survives either step.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p",
    "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "td": {"style"}, "th": {"style"}}
_SCHEMES = {"http", "https", "mailto"}

# CommonMark with tables and strikethrough; raw HTML is text, never markup.
_RENDERER = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def markdown_html(text: str) -> str:
    """``text`` as Markdown, rendered to HTML and sanitized: safe to show as is."""
    return nh3.clean(
        _RENDERER.render(text),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        filter_style_properties={"text-align"},
        link_rel="noopener noreferrer nofollow",
    )
