"""Bug keys: BUG- and ASCII digits, everywhere a key is read."""

from __future__ import annotations

import pytest

from bugs.models import Bug

pytestmark = pytest.mark.django_db


UNICODE_DIGIT_KEYS = {
    "arabic-indic": "BUG-\u0661\u0662\u0663",
    "fullwidth": "BUG-\uff11\uff12\uff13",
    "devanagari": "BUG-\u0967\u0968\u0969",
}


@pytest.mark.regression("BUG-047")
@pytest.mark.parametrize("key", UNICODE_DIGIT_KEYS.values(), ids=UNICODE_DIGIT_KEYS.keys())
def test_p3_integrity_bug_keys_take_ascii_digits_only_regression(key, staff_user, client_for):
    """BUG-047 (P3, integrity): bug keys accepted any Unicode digit.

    ``\\d`` matches Arabic-Indic, full-width and other digits, so "BUG-\\u0661\\u0662\\u0663" was stored beside
    "BUG-123", and the next generated key read it as 123. Fix: every BUG- pattern takes [0-9] only
    (commit recorded in the catalog).
    """
    response = client_for(staff_user).post("/api/v1/bugs/", {"key": key, "title": "unicode digits", "severity": "P3"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert not Bug.objects.exists()
