"""Real reports of many tools read into results whose counts match ones written by hand and by an independent counter."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET  # only to count elements of the corpus and of generated trees
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bugs.junit import TestIdentity, identity_parse
from bugs.parsers import ParsedResult, ReportFormatError
from bugs.uploads import parse_report, report_check

CORPUS = Path(__file__).parent / "data" / "junit"

# Written by reading each file, not by running the parser: (total, passed, failed, error, skipped, flaky).
# skipped includes pytest's xfail; flaky counts results whose tool reported failed attempts before a pass.
EXPECTED = {
    "pytest_xunit1.xml": (11, 4, 3, 2, 2, 0),
    "pytest_xunit2.xml": (11, 4, 3, 2, 2, 0),
    "unittest_xml_reporting.xml": (6, 2, 2, 1, 1, 0),
    "jest_junit_default.xml": (8, 5, 2, 0, 1, 0),
    "jest_junit_file.xml": (8, 5, 2, 0, 1, 0),
    "mocha_junit_reporter.xml": (4, 2, 2, 0, 0, 0),
    "surefire_testng_dataprovider.xml": (6, 4, 1, 0, 1, 0),
    "surefire_reruns.xml": (4, 2, 1, 1, 0, 1),
    "gradle.xml": (5, 3, 1, 0, 1, 0),
    "jasmine_reporters.xml": (4, 2, 1, 0, 1, 0),
    "karma.xml": (6, 3, 1, 0, 2, 0),
    "go_junit_report.xml": (6, 4, 1, 0, 1, 0),
    "gotestsum_rerun_fails.xml": (6, 3, 2, 0, 1, 0),
    "cargo_nextest_retries.xml": (5, 2, 2, 0, 1, 2),
    "phpunit.xml": (6, 3, 1, 1, 1, 0),
    "xunit_net_converted_bom.xml": (6, 4, 1, 0, 1, 0),
    "nunit3_junit_transform_bom.xml": (5, 2, 2, 0, 1, 0),
    "nunit3_junit_transform_utf16.xml": (5, 2, 2, 0, 1, 0),
    "bazel.xml": (2, 1, 0, 1, 0, 0),
    "ctest.xml": (4, 2, 1, 0, 1, 0),
    "catch2.xml": (4, 2, 1, 0, 1, 0),
    "playwright.xml": (6, 3, 1, 0, 2, 0),
    "cypress.xml": (3, 2, 1, 0, 0, 0),
}

# A few identities per file, as a user would write them from what their CI shows: (node id, outcome, attempts).
IDENTITIES = {
    "pytest_xunit1.xml": [
        ("tests/test_shop.py::TestCart::test_remove", "failed", 1),
        ("tests/test_shop.py::test_param[a::b]", "passed", 1),
        ("tests/test_shop.py::test_xfail", "xfailed", 1),
    ],
    "pytest_xunit2.xml": [("tests/test_shop.py::TestCart::test_add", "passed", 1), ("tests/test_shop.py::test_teardown_error", "error", 1)],
    "unittest_xml_reporting.xml": [("pkg/test_calc.py::pkg.test_calc.CalcTest::test_sub (i=1)", "failed", 1)],
    "jest_junit_default.xml": [
        ("Cart::Load widget via link::Load widget via link", "passed", 1),
        ("undefined::Load widget via link::Load widget via link", "failed", 1),
    ],
    "jest_junit_file.xml": [("src/widget.test.js::Load widget via link::Load widget via link", "failed", 1)],
    "mocha_junit_reporter.xml": [("/home/ci/shop/mtest/cart.spec.js::removes an item::Cart removes an item", "failed", 1)],
    "surefire_testng_dataprovider.xml": [
        ("TestSuite::com.acme.pricing.PriceTest::roundsToCents", "passed", 1),
        ("TestSuite::com.acme.pricing.PriceTest::roundsToCents[#2]", "failed", 1),
        ("TestSuite::com.acme.pricing.PriceTest::roundsToCents[#3]", "passed", 1),
    ],
    "surefire_reruns.xml": [
        ("io.acme.CheckoutTest::paysByCard", "passed", 3),
        ("io.acme.CheckoutTest::refundsTwice", "failed", 3),
        ("io.acme.CheckoutTest::talksToGateway", "error", 2),
    ],
    "gradle.xml": [("com.example.calc.CalculatorTest::[2] 2, 3, 6", "failed", 1)],
    "jasmine_reporters.xml": [("Player.when song has been paused::should be possible to resume", "skipped", 1)],
    "karma.xml": [
        (
            "Chrome Headless 120.0.6099.109 (Linux x86_64)::Chrome_Headless_120.0.6099.109_(Linux_x86_64).Cart::Cart removes an item",
            "failed",
            1,
        ),
        ("Firefox 121.0 (Linux x86_64)::Firefox_121.0_(Linux_x86_64).Cart::Cart removes an item", "passed", 1),
    ],
    "go_junit_report.xml": [("package/pass::TestPassLog/sub", "passed", 1), ("package/fail::TestOne", "failed", 1)],
    "gotestsum_rerun_fails.xml": [
        ("example.com/shop/internal/badmain::::TestMain", "failed", 1),
        ("example.com/shop/internal/cart::TestFlaky", "failed", 1),
        ("example.com/shop/internal/cart::TestFlaky[#2]", "passed", 1),
    ],
    "cargo_nextest_retries.xml": [
        ("shop-core::cart\\::tests\\::talks_to_redis", "passed", 3),
        ("shop-core::cart\\::tests\\::refunds_once", "failed", 3),
        ("shop-core::cart\\::tests\\::totals_in_cents", "failed", 2),
    ],
    "phpunit.xml": [
        ('/home/ci/shop/tests/Unit/CartTest.php::Acme.Tests.Unit.CartTest::testTotals with data set "empty cart"', "passed", 1)
    ],
    "xunit_net_converted_bom.xml": [
        (
            "Test collection for Acme.Shop.Tests.CartTests::Acme.Shop.Tests.CartTests::"
            "Acme.Shop.Tests.CartTests.Totals(items: 2, expected: 20)[#2]",
            "passed",
            1,
        )
    ],
    "nunit3_junit_transform_bom.xml": [("Acme.Shop.Tests.CartTests.::Acme.Shop.Tests.CartTests::AppliesCoupon", "skipped", 1)],
    "nunit3_junit_transform_utf16.xml": [("Acme.Shop.Tests.CartTests.::Acme.Shop.Tests.CartTests::TalksToStock", "failed", 1)],
    "bazel.xml": [("shop/pay/pay_test", "error", 1), ("shop/cart/cart_test", "passed", 1)],
    "ctest.xml": [("Linux-c++::unit_io::unit_io", "failed", 1)],
    "catch2.xml": [
        ("shop_tests::shop_tests.global::Vector can be sized and resized/resizing bigger changes size and capacity", "passed", 1)
    ],
    # Playwright joins a title path with a single right-pointing angle quotation mark.
    "playwright.xml": [
        ("checkout.spec.ts::checkout \u203a shows the total", "failed", 1),
        ("checkout.spec.ts::checkout \u203a shows the total[#2]", "passed", 1),
    ],
    "cypress.xml": [("cypress/e2e/widget.cy.js::Load widget via embed::Widget Load widget via embed", "failed", 1)],
}


def _counts(results: list[ParsedResult]) -> tuple[int, ...]:
    outcomes = Counter({"xfailed": "skipped", "xpassed": "passed"}.get(r.outcome, r.outcome) for r in results)
    return (
        len(results),
        outcomes["passed"],
        outcomes["failed"],
        outcomes["error"],
        outcomes["skipped"],
        sum(r.is_flaky for r in results),
    )


def _read(path: Path) -> list[ParsedResult]:
    with open(path, "rb") as stream:
        return parse_report(stream)


def test_every_file_of_the_corpus_has_expected_counts_and_identities():
    assert sorted(EXPECTED) == sorted(p.name for p in CORPUS.glob("*.xml") if p.name != "nunit3_test_run_refused.xml")
    assert sorted(IDENTITIES) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_corpus_file_is_read_with_its_hand_written_counts(name):
    results = _read(CORPUS / name)
    total, *outcomes, _flaky = EXPECTED[name]
    assert _counts(results) == EXPECTED[name]
    assert total == sum(outcomes)
    assert total == sum(1 for _ in ET.parse(CORPUS / name).iter("testcase"))  # the corpus is ours
    assert len({r.node_id for r in results}) == total


@pytest.mark.parametrize("name", sorted(IDENTITIES))
def test_a_corpus_file_keeps_the_identities_its_tool_gave(name):
    results = {r.node_id: r for r in _read(CORPUS / name)}
    for node_id, outcome, attempts in IDENTITIES[name]:
        assert (results[node_id].outcome, results[node_id].attempts) == (outcome, attempts), node_id
    for node_id, result in results.items():
        assert not node_id.endswith("::")
        if result.kind == "junit":
            assert ".py::" not in node_id or result.file.endswith(".py")
            assert (identity_parse(node_id).classname, identity_parse(node_id).name) == (result.classname, result.name)


def test_pytest_reports_keep_pytest_node_ids_and_others_never_get_one():
    kinds = {name: {r.kind for r in _read(CORPUS / name)} for name in EXPECTED}
    assert kinds.pop("pytest_xunit1.xml") == kinds.pop("pytest_xunit2.xml") == {"pytest"}
    assert all(found == {"junit"} for found in kinds.values()), kinds


def test_a_pytest_looking_report_from_another_tool_is_not_given_pytest_node_ids():
    body = b'<testsuite name="pytest"><testcase classname="org.apache.Thing" name="works" file="Thing.java"/></testsuite>'
    [result] = parse_report(io.BytesIO(body))
    assert (result.kind, result.node_id) == ("junit", "Thing.java::org.apache.Thing::works")


@pytest.mark.parametrize(("name", "node_id"), [(":", "pytest::pkg.Cls::\\:"), ("test_ok[1:2]", "pkg.py::Cls::test_ok[1:2]")])
def test_a_name_pytest_cannot_have_written_keeps_the_tool_identity(name, node_id):
    [result] = parse_report(io.BytesIO(f'<testsuite name="pytest"><testcase classname="pkg.Cls" name="{name}"/></testsuite>'.encode()))
    assert result.node_id == node_id


def test_a_repeat_never_takes_the_node_id_of_a_test_named_like_a_repeat():
    cases = "".join(f'<testcase classname="tests.test_x" name="{name}"/>' for name in ["test_a[#2]", "test_a", "test_a", "test_a[#3]"])
    results = parse_report(io.BytesIO(f'<testsuite name="pytest">{cases}</testsuite>'.encode()))
    assert [r.node_id for r in results] == [
        "tests/test_x.py::test_a[#2]",
        "tests/test_x.py::test_a",
        "tests/test_x.py::test_a[#3]",
        "tests/test_x.py::test_a[#3][#2]",
    ]


def test_nunit3_test_run_xml_is_refused_naming_its_root():
    with pytest.raises(ReportFormatError, match="<test-run>"):
        _read(CORPUS / "nunit3_test_run_refused.xml")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_quick_check_of_an_upload_accepts_every_corpus_file(name):
    with open(CORPUS / name, "rb") as stream:
        assert report_check(stream) == "junit"


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        ((CORPUS / "nunit3_test_run_refused.xml").read_bytes(), "<test-run>"),
        (b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "b">]><testsuite/>', "DTD"),
        (b'<?xml version="1.0" encoding="no-such-encoding"?><testsuite/>', "malformed"),
        (b"\xef\xbb\xbf   ", "empty"),
        (b"[1, 2]\n", "one JSON object per line"),
        (b"plain text\n", "neither JUnit XML nor a pytest report log"),
    ],
    ids=["nunit3", "doctype", "unknown-encoding", "bom-only", "json-list", "text"],
)
def test_the_quick_check_of_an_upload_refuses_what_its_head_tells(body, refusal):
    with pytest.raises(ReportFormatError, match=refusal):
        report_check(io.BytesIO(body))


def test_the_quick_check_reads_only_the_head_of_a_large_upload():
    body = b'<testsuites><testsuite name="s">' + b'<testcase classname="c" name="n"/>' * 300_000 + b"</testsuite></testsuites>"
    stream = io.BytesIO(body)
    assert report_check(stream) == "junit"
    assert stream.tell() < 1_000_000 < len(body)
    log = io.BytesIO(b'{"$report_type": "SessionStart"}\n' + b"x" * 5_000_000)
    assert report_check(log) == "report-log"
    assert log.tell() < 1_000_000


@pytest.mark.parametrize(("line", "expected"), [("12", 12), ("9" * 5000, None), ("\u0661\u0662", None), ("-3", None), ("", None)])
def test_a_line_number_is_kept_only_when_it_is_one(line, expected):
    body = f'<testsuite name="s"><testcase classname="c" name="n" file="a.php" line="{line}"/></testsuite>'.encode()
    [result] = parse_report(io.BytesIO(body))
    assert result.line == expected


def test_every_message_of_a_testcase_is_kept_and_a_long_one_is_cut_visibly():
    body = b"""<testsuite name="s"><testcase classname="c" name="n">
      <skipped message="first"/><error message="second">trace two</error><failure message="third">trace three</failure>
    </testcase><testcase classname="c" name="long"><failure message="%s"/></testcase></testsuite>""" % (b"x" * 5000)
    first, long = parse_report(io.BytesIO(body))
    assert first.outcome == "failed"
    assert first.message.split("\n") == ["first", "second", "third"]
    assert "trace two" in first.traceback
    assert "trace three" in first.traceback
    assert long.message.endswith("… [truncated]")
    assert len(long.message) == 2000


# --- random trees against an independent counter -------------------------------------------------

_RESULT_TAGS = ("failure", "error", "skipped")
_RERUN_TAGS = ("flakyFailure", "flakyError", "rerunFailure", "rerunError")
_XML_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs", "Cn")), max_size=6)
_NAMES = st.sampled_from(["test_a", "test_b", "same", ""]) | _XML_TEXT


@st.composite
def _testcase(draw: st.DrawFn) -> ET.Element:
    case = ET.Element("testcase", classname=draw(st.sampled_from(["", "pkg.Cls", "Other"])), name=draw(_NAMES))
    for tag in draw(st.lists(st.sampled_from(_RESULT_TAGS + _RERUN_TAGS + ("system-out",)), max_size=4)):
        child = ET.SubElement(case, tag, message=draw(_XML_TEXT))
        child.text = draw(_XML_TEXT)
    return case


@st.composite
def _suite(draw: st.DrawFn, depth: int) -> ET.Element:
    suite = ET.Element("testsuite", name=draw(st.sampled_from(["", "suite", "pytest", "other"])))
    for _ in range(draw(st.integers(0, 4))):
        if depth < 3 and draw(st.booleans()):
            suite.append(draw(_suite(depth + 1)))
        else:
            suite.append(draw(_testcase()))
    return suite


def _reference(root: ET.Element) -> list[tuple[str, int, bool]]:
    """(outcome, attempts, flaky) of every testcase, in document order, from the tree itself."""
    rank = {"failure": ("failed", 3), "error": ("error", 2), "skipped": ("skipped", 1)}
    expected = []
    for case in root.iter("testcase"):
        tags = [child.tag for child in case]
        worst = max((rank[t] for t in tags if t in rank), key=lambda pair: pair[1], default=("passed", 0))[0]
        flaky, reruns = sum(t.startswith("flaky") for t in tags), sum(t.startswith("rerun") for t in tags)
        expected.append((worst, 1 + flaky + reruns, flaky > 0 or (reruns > 0 and worst == "passed")))
    return expected


def _serialise(root: ET.Element, encoding: str) -> bytes:
    text = ET.tostring(root, encoding="unicode")
    if encoding == "utf-8-bom":
        return b"\xef\xbb\xbf" + ('<?xml version="1.0" encoding="utf-8"?>' + text).encode()
    declared = f'<?xml version="1.0" encoding="{encoding}"?>' + text
    # Characters latin-1 cannot hold travel as character references, as XML writers do.
    return declared.encode(encoding, "xmlcharrefreplace")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["testsuites", "testsuite"]).flatmap(lambda tag: _suite(0).map(lambda s: (tag, s))),
    st.sampled_from(["utf-8", "utf-8-bom", "utf-16", "iso-8859-1"]),
)
def test_random_junit_trees_are_counted_like_the_independent_reference(root_and_suite, encoding):
    tag, suite = root_and_suite
    root = suite if tag == "testsuite" else ET.Element("testsuites")
    if tag == "testsuites":
        root.append(suite)
    results = parse_report(io.BytesIO(_serialise(root, encoding)))
    assert [(r.outcome, r.attempts, r.is_flaky) for r in results] == _reference(root)
    assert len({r.node_id for r in results}) == len(results)
    assert all(r.node_id and not r.node_id.endswith("::") for r in results)


@settings(max_examples=300, deadline=None)
@given(_XML_TEXT, _NAMES, st.sampled_from(["suite", "", "pytest"]))
def test_a_generated_identity_reads_back_from_its_node_id(classname, name, suite_name):
    body = ET.tostring(ET.Element("testsuite", name=suite_name), encoding="unicode").replace(" />", ">")
    case = ET.tostring(ET.Element("testcase", classname=classname, name=name), encoding="unicode")
    [result] = parse_report(io.BytesIO(f"{body}{case}</testsuite>".encode()))
    if result.kind == "junit":
        redundant = result.scope in (result.classname, "" if result.classname else result.name)
        assert identity_parse(result.node_id) == TestIdentity("" if redundant else result.scope, result.classname, result.name)
