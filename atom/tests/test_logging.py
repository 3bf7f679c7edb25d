"""Tokens and passwords never reach a log line."""

from __future__ import annotations

import logging

import pytest

from atom.logging import RedactSecretsFilter, redact

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    "line",
    [
        f"Authorization: Bearer {JWT}",
        f"GET /api/v1/agents/?token={JWT}",
        '{"username": "a", "password": "hunter22"}',
        "refresh=abc.def.ghi&x=1",
        f"access: {JWT}",
    ],
)
def test_credentials_are_redacted(line):
    cleaned = redact(line)
    assert JWT not in cleaned
    assert "hunter22" not in cleaned
    assert "abc.def.ghi" not in cleaned
    assert "REDACTED" in cleaned


def test_the_filter_rewrites_formatted_records():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "login with %s", (f"Bearer {JWT}",), None)
    assert RedactSecretsFilter().filter(record) is True
    assert JWT not in record.getMessage()


def test_ordinary_lines_pass_unchanged():
    assert redact("Agent 7 executed search in 3 ms") == "Agent 7 executed search in 3 ms"
