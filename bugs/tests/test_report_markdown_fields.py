"""Any text survives the trip through a Markdown field and back (the import's stability rests on it)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bugs.report import _field, triage_parse

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\r") | st.just("\n"), max_size=300
)


def _normalised(text: str) -> str:
    lines = text.strip().split("\n")
    return "\n".join([lines[0].strip(), *(line.rstrip() for line in lines[1:])])


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_a_multi_line_field_round_trips(text):
    document = "\n".join(["### BUG-001: Title", "", _field("Root cause", text), _field("Fix strategy", "after"), ""])
    (bug,) = triage_parse(document)
    expected = _normalised(text)
    if expected and expected != "—":
        assert bug.fields["root_cause"] == expected
    else:
        assert "root_cause" not in bug.fields
    assert bug.fields["fix_strategy"] == "after"


@pytest.mark.regression("BUG-009")
def test_a_heading_inside_a_field_stays_in_the_field():
    document = "\n".join(["### BUG-001: Title", _field("Description", "first\n### BUG-002: not a bug\n## Not a section"), ""])
    (bug,) = triage_parse(document)
    assert bug.fields["description"] == "first\n### BUG-002: not a bug\n## Not a section"
