"""The JSON parser of the API: bounded nesting, storable text, and a 400 — never a 500 — for any malformed body."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.http import parse_header_parameters
from rest_framework import parsers
from rest_framework.exceptions import ParseError, UnsupportedMediaType


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when containers nest deeper than ``limit``; iterative, so it cannot itself overflow."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def json_invalid_text(value: Any) -> bool:
    """True when a string or key is not valid Unicode text (a lone UTF-16 surrogate such as ``\\ud800``).

    JSON's ``\\u`` escapes can spell half of a surrogate pair, which Python decodes but which neither
    UTF-8 nor PostgreSQL can hold. Iterative, like :func:`json_depth_exceeds`.
    """
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than ``ATOM_MAX_JSON_DEPTH`` (BUG-003) and
    text or numbers no database can store (BUG-025, BUG-027); a charset that names no text encoding is a 415 (BUG-026)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        # Django drops a charset it does not know and keeps one that is no text encoding (rot13,
        # base64, zlib); either way the body cannot be read as the client declared it.
        declared = parse_header_parameters(media_type or "")[1].get("charset")
        encoding = declared or (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except LookupError as exc:
            raise UnsupportedMediaType(media_type or "", detail=f'Unsupported charset "{encoding}"; send JSON as UTF-8.') from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        try:
            data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body is nested too deeply.") from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if json_depth_exceeds(data, settings.ATOM_MAX_JSON_DEPTH):
            raise ParseError(f"JSON parse error - nesting deeper than {settings.ATOM_MAX_JSON_DEPTH} levels.")
        if json_invalid_text(data):
            raise ParseError("JSON parse error - a string is not valid Unicode text (lone surrogate).")
        return data


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; accepting them lets them reach numeric columns.
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e400 overflows to infinity, which JSON cannot spell back and PostgreSQL's json type refuses.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number is out of range")
    return value
