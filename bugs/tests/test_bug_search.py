"""Search: bugs by key, title, text and linked test node id, from the bug list's search box."""

from __future__ import annotations

import pytest

from bugs.models import Bug
from bugs.selectors import bug_search
from bugs.services.bugs import bug_create, bug_link_test

pytestmark = pytest.mark.django_db


@pytest.fixture
def bugs() -> dict[str, Bug]:
    refresh = bug_create(key="BUG-201", title="Refresh token replayed", severity="P0", description="Concurrent refreshes forked sessions.")
    export = bug_create(key="BUG-202", title="Export loses the owner", severity="P2", actual="KeyError: 'owner' while writing rows")
    bug_link_test(bug=export, node_id="tests/test_export.py::test_csv_keeps_owner")
    bug_create(key="BUG-203", title="Slow audit page", severity="P3")
    return {"refresh": refresh, "export": export}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("BUG-201", ["BUG-201"]),
        ("refresh token", ["BUG-201"]),
        ("forked", ["BUG-201"]),
        ("KeyError", ["BUG-202"]),
        ("test_csv_keeps_owner", ["BUG-202"]),
        ("tests/test_export.py", ["BUG-202"]),
        ("nothing like it", []),
        ("  ", ["BUG-201", "BUG-202", "BUG-203"]),
    ],
)
def test_it_finds_bugs_by_key_title_text_and_node_id(bugs, term, expected):
    assert sorted(bug_search(Bug.objects.all(), term=term).values_list("key", flat=True)) == expected


def test_the_bug_list_search_box_uses_it(admin_client, bugs):
    page = admin_client.get("/admin/bugs/bug/", {"q": "test_csv_keeps_owner"}).content.decode()
    assert "BUG-202" in page
    assert "BUG-201" not in page


@pytest.mark.postgres
def test_postgresql_matches_words_by_their_stem(bugs):
    assert list(bug_search(Bug.objects.all(), term="forking sessions").values_list("key", flat=True)) == ["BUG-201"]
