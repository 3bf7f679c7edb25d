"""Any node id survives the report's round trip: export, import, export (SPEC section 6, issue 12 item 10)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bugs.models import Bug
from bugs.report import triage_report
from bugs.services import bug_create, triage_import

pytestmark = pytest.mark.django_db


def _links(key: str) -> list[str]:
    return sorted(Bug.objects.get(key=key).regression_tests.values_list("node_id", flat=True))


@pytest.mark.regression("BUG-078")
@pytest.mark.parametrize(
    "node_id",
    [
        "tests/test_a.py::test_p[x` `tests/test_other.py`]",
        "tests/test_a.py::test_p[``]",
        "tests/test_a.py::test_p[`]",
        "tests/test_a.py::TestPipes::test_p[a|b`|`c]",
    ],
)
def test_p2_integrity_backtick_in_node_id_breaks_out_of_code_span_regression(node_id):
    """BUG-078 (P2, integrity): a node id with backticks broke out of the report's code span.

    The report wrote every node id between single backticks; a parameter holding a backtick closed
    the span early, so export then import linked the bug to ``tests/test_other.py``, a test file
    nobody named, and dropped the real test. Fix: the code span is opened and closed with more
    backticks than the node id holds (the CommonMark rule), and the reader follows the same rule
    (commit recorded in the catalog).
    """
    from bugs.services import bug_link_test

    bug = bug_create(key="BUG-001", title="Parametrised", severity="P3", discovered_at=datetime(2026, 11, 1, tzinfo=UTC))
    bug_link_test(bug=bug, node_id=node_id)
    exported = triage_report(now=datetime(2026, 11, 24, tzinfo=UTC))
    Bug.objects.all().delete()
    summary = triage_import(text=exported)
    assert summary.warnings == []
    assert _links("BUG-001") == [node_id]
    assert triage_report(now=datetime(2026, 11, 24, tzinfo=UTC)) == exported
