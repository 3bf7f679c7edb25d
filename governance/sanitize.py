"""Canvas content made safe: the HTML and markdown allow-lists, and the first filter for canvas scripts.

Pure functions with no database access; the canvas services call them before anything is stored.
"""

from __future__ import annotations

import hashlib
import html
import re

import nh3
from django.conf import settings

# --- Canvas ------------------------------------------------------------------------------------

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong",
    "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
_ALLOWED_SCHEMES = {"http", "https", "mailto"}

# What JavaScript allows between two tokens: whitespace and comments. The blocklist matches across it
# in the code as written (nothing is stripped first), so a comment cannot split a blocked construct
# and a quoted "//" or "/*" cannot hide one. Possessive, so a failed match never backtracks through it.
_GAP = r"(?:\s|/\*(?:[^*]|\*(?!/))*+\*/|//[^\n]*+)*+"

# Case-insensitive (unless marked otherwise); each names what it closes.
_SCRIPT_BLOCKLIST: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE))
    for label, pattern in (
        ("\\u or \\x escape", r"\\[ux]"),
        ("eval", r"\beval\b"),
        ("Function constructor", rf"\bFunction{_GAP}\(|(?-i:\bFunction\b)"),
        ("constructor access", rf"\.{_GAP}constructor\b|\[{_GAP}[\"'`]constructor\b"),
        ("timer with a string", rf"\bset(?:Timeout|Interval){_GAP}\({_GAP}[\"'`]"),
        ("cookie access", rf"\bdocument{_GAP}\.{_GAP}cookie\b|\bcookie\b"),
        ("storage access", r"\b(?:localStorage|sessionStorage|indexedDB)\b"),
        (
            "window.location/top/parent",
            rf"\b(?:window|self|globalThis){_GAP}\.{_GAP}(?:location|top|parent|opener)\b"
            rf"|\blocation{_GAP}\.{_GAP}(?:href|assign|replace)\b|\b(?:top|parent){_GAP}\.{_GAP}location\b",
        ),
        ("location assignment", rf"\blocation{_GAP}=(?!=)|\bdocument{_GAP}\.{_GAP}location\b"),
        ("fetch", r"\bfetch\b"),
        ("XMLHttpRequest", r"\bXMLHttpRequest\b"),
        ("sendBeacon", r"\bsendBeacon\b"),
        ("document.write", rf"\bdocument{_GAP}\.{_GAP}write(?:ln)?\b"),
        ("script-element creation", rf"createElement{_GAP}\({_GAP}[\"'`]\s*script"),
        ("namespaced element creation", r"\bcreateElementNS\b"),
        ("innerHTML", r"\b(?:inner|outer)HTML\b|\binsertAdjacentHTML\b"),
        ("bracket access", rf"\b(?:document|window|self|globalThis|localStorage|sessionStorage){_GAP}\["),
        ("import", rf"\bimport{_GAP}\("),
        ("WebSocket", r"\bWebSocket\b"),
        # Navigation and exfiltration that need no blocked name (the canvas frame's policy contains them too).
        ("window.open", rf"\bopen{_GAP}\("),
        ("image construction", rf"\bImage{_GAP}\("),
        ("EventSource", r"\bEventSource\b"),
        ("form submission", rf"\b(?:requestSubmit|submit){_GAP}\(|\baction{_GAP}=(?!=)|\bformAction\b"),
        ("reflection and the global object", r"\b(?:Reflect|Proxy|globalThis)\b"),
        ("top/parent/opener/frames access", rf"\b(?:top|parent|opener|frames){_GAP}[\[.]"),
        (
            "src or href assignment",
            rf"\.{_GAP}(?:src|href|srcdoc){_GAP}=(?!=)|\bsetAttribute{_GAP}\({_GAP}[\"'`]\s*(?:src|href|action|srcdoc)\b",
        ),
        ("element creation by a computed name", rf"\bcreateElement{_GAP}\((?!{_GAP}[\"'`][a-z][a-z0-9-]*[\"'`]{_GAP}\))"),
    )
)


def canvas_sanitize(text: str) -> str:
    """Allow-list sanitizing of canvas HTML (and of the HTML in markdown): no script, style, iframe, object, embed,
    event handlers, ``javascript:`` or ``data:`` URLs (nh3 drops what is not allowed)."""
    return nh3.clean(
        text,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_ALLOWED_SCHEMES,
        clean_content_tags={"script", "style"},
        link_rel="noopener noreferrer nofollow",
    )


# Where a markdown link or image destination starts: after "](" (an inline link) or "]:" (a reference
# definition), past spaces and at most one line break.
_MARKDOWN_DESTINATION = re.compile(r"\](\(|:)[ \t]*(?:\n[ \t]*)?")
_URL_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", re.IGNORECASE)
# Blockquote markers at the start of a line, which the HTML sanitizer escapes.
_MARKDOWN_QUOTE_MARKERS = re.compile(r"^(?:[ \t]*&gt;)+", re.MULTILINE)


def _markdown_destination_end(text: str, start: int, limit: int, *, inline: bool) -> int:
    """The end of the destination at ``start`` (never past ``limit``): after its ``>`` if it is bracketed,
    else at whitespace or, in an inline link, at the parenthesis that closes the link."""
    if text.startswith("<", start):
        close = text.find(">", start, limit)
        return limit if close < 0 else close + 1
    end, depth = start, 0
    while end < limit and (text[end] == "\t" or not text[end].isspace()):  # a browser drops tabs from a URL
        char = text[end]
        if char == "\\":
            end += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            if inline and depth == 0:
                break
            depth -= 1
        end += 1
    return min(end, limit)


def _markdown_destination_allowed(destination: str) -> bool:
    """Whether a link destination is relative or uses an allowed scheme, read as a markdown renderer and a
    browser would: entities decoded, backslash escapes dropped, whitespace and control characters ignored."""
    url = html.unescape(destination.strip("<>")).replace("\\", "")
    url = "".join(char for char in url if char > " " and char != "\x7f")
    scheme = _URL_SCHEME.match(url)
    return scheme is None or scheme.group(1).lower() in _ALLOWED_SCHEMES


def canvas_markdown_sanitize(text: str) -> str:
    """Sanitize a markdown canvas: its HTML as ``canvas_sanitize`` does, then every link and image
    destination whose scheme is not allowed (``javascript:``, ``data:``…) becomes ``#``, as the HTML
    sanitizer drops such URLs. Blockquote markers the HTML sanitizer escaped are given back."""
    cleaned = canvas_sanitize(text)
    parts: list[str] = []
    position = 0
    # Each destination is read up to the next one at most, so the text is read once however it is made.
    matches = list(_MARKDOWN_DESTINATION.finditer(cleaned))
    for index, match in enumerate(matches):
        start = match.end()
        limit = matches[index + 1].start() if index + 1 < len(matches) else len(cleaned)
        end = _markdown_destination_end(cleaned, start, limit, inline=match.group(1) == "(")
        if end > start and not _markdown_destination_allowed(cleaned[start:end]):
            parts += [cleaned[position:start], "#"]
            position = end
    parts.append(cleaned[position:])
    return _MARKDOWN_QUOTE_MARKERS.sub(lambda quote: quote.group(0).replace("&gt;", ">"), "".join(parts))


def canvas_script_problem(code: str) -> str | None:
    """Why a script may not be stored (empty, over the size limit, or a blocklisted pattern), else None."""
    if not code.strip():
        return "The script is empty."
    if len(code.encode("utf-8")) > settings.GOVERNANCE_CANVAS_SCRIPT_MAX_BYTES:
        return f"The script is larger than {settings.GOVERNANCE_CANVAS_SCRIPT_MAX_BYTES} bytes."
    for label, pattern in _SCRIPT_BLOCKLIST:
        if pattern.search(code):
            return f"The script uses a blocked construct: {label}."
    return None


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()
