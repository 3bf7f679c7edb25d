"""The one text form of a test identity: written by identity_text, read back by identity_parse."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bugs.junit import TestIdentity, identity_parse, identity_text

# Parts made mostly of the characters the form treats specially, so that every escape is exercised.
_PART = st.text(st.sampled_from(list(':\\[]#" ab1')), max_size=8) | st.text(max_size=8)


@pytest.mark.parametrize(
    ("identity", "text"),
    [
        (TestIdentity("", "org.acme.CartTest", "adds()"), "org.acme.CartTest::adds()"),
        (TestIdentity("TestSuite", "org.acme.PriceTest", "rounds", 2), "TestSuite::org.acme.PriceTest::rounds[#2]"),
        (TestIdentity("", "", "Load widget via link"), "Load widget via link"),
        (TestIdentity("example.com/badmain", "", "TestMain"), "example.com/badmain::::TestMain"),
        (TestIdentity("", "shop-core", "cart::tests::adds"), "shop-core::cart\\::tests\\::adds"),
        (TestIdentity("", "Widget", ""), 'Widget::""'),
        (TestIdentity("", "Widget", '""'), 'Widget::\\""'),
        (TestIdentity("", "c", "case[#2]"), "c::case\\[#2]"),
        (TestIdentity("", "c", "ends with:"), "c::ends with\\:"),
        (TestIdentity("C:\\src", "c", "n"), "C:\\\\src::c::n"),
    ],
)
def test_an_identity_has_one_documented_text(identity, text):
    assert identity_text(identity) == text
    assert identity_parse(text) == identity


@settings(max_examples=2000, deadline=None)
@given(_PART, _PART, _PART, st.integers(1, 10_000))
def test_every_identity_reads_back_from_its_text(scope, classname, name, ordinal):
    identity = TestIdentity(scope, classname, name, ordinal)
    text = identity_text(identity)
    assert text
    assert not text.endswith("::")
    assert identity_parse(text) == identity


@settings(max_examples=2000, deadline=None)
@given(st.text(st.sampled_from(list(':\\[]#"a1')), max_size=12))
def test_any_text_is_either_refused_or_written_back_unchanged(text):
    try:
        identity = identity_parse(text)
    except ValueError:
        return
    assert identity_text(identity) == text


@pytest.mark.parametrize("text", ["a::b::c::d", "::c::n", "::n", "x[#1]", "x\\", "c::", "", "a\\b"])
def test_a_text_identity_text_cannot_have_written_is_refused(text):
    with pytest.raises(ValueError, match="test identity"):
        identity_parse(text)
