"""Logging filters: credentials never reach a log line."""

from __future__ import annotations

import logging
import re

# Bearer headers, JWTs (three base64url parts) and password-like key/value pairs.
_SECRET_PATTERNS = (
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)((?:password|passwd|secret|token|refresh|access)[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"),
)


def redact(text: str) -> str:
    """Return the text with every credential-looking part replaced by a marker."""
    text = _SECRET_PATTERNS[0].sub("Bearer [REDACTED]", text)
    text = _SECRET_PATTERNS[1].sub("[REDACTED-JWT]", text)
    return _SECRET_PATTERNS[2].sub(r"\1[REDACTED]", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites each record's message so that tokens and passwords are never written out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
