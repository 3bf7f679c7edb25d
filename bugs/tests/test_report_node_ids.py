"""Any node id survives the report's round trip: export, import, export (SPEC section 6, issue 12 item 10)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from bugs.models import Bug
from bugs.report import triage_report
from bugs.report_markdown import code_span, code_spans
from bugs.services.bugs import bug_create, bug_link_test
from bugs.services.triage import triage_import


def _links(key: str) -> list[str]:
    return sorted(Bug.objects.get(key=key).regression_tests.values_list("node_id", flat=True))


@pytest.mark.django_db
@pytest.mark.regression("BUG-078")
@pytest.mark.parametrize(
    "node_id",
    [
        "tests/test_a.py::test_p[x` `tests/test_other.py`]",
        "tests/test_a.py::test_p[``]",
        "tests/test_a.py::test_p[`]",
        "tests/test_a.py::TestPipes::test_p[a|b`|`c]",
    ],
    # Plain ids: the marker sync links this test by its own node id, which must stay a valid one.
    ids=["backticks-around-a-path", "two-backticks", "one-backtick", "pipes-and-backticks"],
)
def test_p2_integrity_backtick_in_node_id_breaks_out_of_code_span_regression(node_id):
    """BUG-078 (P2, integrity): a node id with backticks broke out of the report's code span.

    The report wrote every node id between single backticks; a parameter holding a backtick closed
    the span early, so export then import linked the bug to ``tests/test_other.py``, a test file
    nobody named, and dropped the real test. Fix: the code span is opened and closed with more
    backticks than the node id holds (the CommonMark rule), and the reader follows the same rule
    (commit recorded in the catalog).
    """
    bug = bug_create(key="BUG-001", title="Parametrised", severity="P3", discovered_at=datetime(2026, 11, 1, tzinfo=UTC))
    bug_link_test(bug=bug, node_id=node_id)
    exported = triage_report(now=datetime(2026, 11, 24, tzinfo=UTC))
    Bug.objects.all().delete()
    summary = triage_import(text=exported)
    assert summary.warnings == []
    assert _links("BUG-001") == [node_id]
    assert triage_report(now=datetime(2026, 11, 24, tzinfo=UTC)) == exported


# Any character a line can hold: no line break (the report is read line by line), no surrogate.
LINE_TEXT = st.text(alphabet=st.characters(codec="utf-8", blacklist_characters="\n\r") | st.sampled_from("`|: []"), min_size=1)


@settings(max_examples=500, deadline=None)
@given(LINE_TEXT)
def test_a_code_span_gives_back_exactly_its_text(text):
    rendered = code_span(text)
    assert code_spans(rendered) == [(0, len(rendered), text)]


@settings(max_examples=300, deadline=None)
@given(st.lists(LINE_TEXT, min_size=1, max_size=4))
def test_several_code_spans_on_one_line_are_read_apart(texts):
    line = ", ".join(code_span(text) for text in texts) + " — passed (run #3)"
    assert [content for _, _, content in code_spans(line)] == texts


def test_an_unclosed_backtick_run_is_literal_text():
    assert code_spans("`a") == []
    assert code_spans("``a` b``") == [(0, 8, "a` b")]
    assert code_spans("` `` `") == [(0, 6, "``")]


# Node ids as the validator accepts them: a path, an optional class, a name, and parameters holding
# anything but control characters and "::" (the separator), here rich in backticks, pipes and unicode.
PARAMS = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="".join(map(chr, [*range(32), 127]))) | st.sampled_from("`|:[] "),
    max_size=30,
).filter(lambda text: "::" not in text and not text.endswith(":"))
NODE_IDS = st.builds(
    lambda path, klass, name, params: f"tests/{path}.py::{klass}{name}" + (f"[{params}]" if params is not None else ""),
    st.sampled_from(["test_a", "sub/test_b"]),
    st.sampled_from(["", "TestThing::"]),
    st.sampled_from(["test_x", "test_y"]),
    st.none() | PARAMS,
)


def _without_generated(report: str) -> str:
    return "\n".join(line for line in report.split("\n") if not line.startswith("Generated: "))


class RoundTripPropertyTests(HypothesisTestCase):
    """Export, import into an empty catalog, export again: the same report for any node ids."""

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(NODE_IDS, min_size=1, max_size=3, unique=True))
    def test_export_import_export_is_stable_for_any_node_id(self, node_ids):
        bug = bug_create(key="BUG-001", title="Parametrised", severity="P3", discovered_at=datetime(2026, 11, 1, tzinfo=UTC))
        for node_id in node_ids:
            bug_link_test(bug=bug, node_id=node_id)
        exported = triage_report()
        Bug.objects.all().delete()
        summary = triage_import(text=exported)
        assert summary.warnings == []
        assert _links("BUG-001") == sorted(node_ids)
        assert _without_generated(triage_report()) == _without_generated(exported)
