"""Ids in the episodes routes: beyond a 64-bit integer they are simply not found, never a server error."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

HUGE = "3298155756605586144231424"


@pytest.mark.regression("BUG-018")
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/api/v1/agents/{HUGE}/episodes/"),
        ("post", f"/api/v1/agents/{HUGE}/interactions/"),
        ("get", f"/api/v1/episodes/{HUGE}/"),
        ("get", "/api/v1/agents/9223372036854775808/episodes/"),
    ],
)
def test_an_id_beyond_64_bits_is_not_found(client_for, user, method, path):
    response = getattr(client_for(user), method)(path, {"interactions": []} if method == "post" else None, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_the_largest_64_bit_id_is_an_ordinary_missing_agent(client_for, user):
    assert client_for(user).get("/api/v1/agents/9223372036854775807/episodes/").status_code == 404
