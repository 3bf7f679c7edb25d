"""A bug links a test by the one text form of its identity, through every interface; only pytest's ids run here."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from atom.errors import DomainError
from bugs import validators
from bugs.models import Bug, RegressionTest, Run
from bugs.report import triage_report
from bugs.services.bugs import bug_create, bug_link_test
from bugs.services.runs import run_trigger
from bugs.services.triage import triage_import

pytestmark = pytest.mark.django_db

IDENTITY = "org.acme.PriceTest::rounds"


@pytest.mark.parametrize(
    "text",
    [
        "tests/test_a.py::test_b[x]",
        IDENTITY,
        "TestSuite::com.acme.pricing.PriceTest::roundsToCents",
        'Widget::""',
        "shop-core::cart\\::tests\\::adds_item",
        "checkout.spec.ts::checkout \u203a pays by card",
    ],
)
def test_a_node_id_or_a_test_identity_can_be_linked(text):
    assert validators.test_link_validate(text) == text


@pytest.mark.parametrize(
    "text",
    ["", "a::b::c::d", "Widget::", "name[#1]", "x\ny", "tab\there", "x" * 1001, "tests/test_episode_*.py", "a\\", "../../etc/passwd"],
)
def test_a_text_no_tool_writes_cannot_be_linked(text):
    with pytest.raises(DomainError) as raised:
        validators.test_link_validate(text)
    assert raised.value.code == "INVALID_NODE_ID"


def test_only_a_pytest_node_id_can_be_run_but_an_identity_can_be_linked():
    with pytest.raises(DomainError) as raised:
        run_trigger(node_ids=[IDENTITY], trigger=Run.Trigger.API)
    assert raised.value.code == "INVALID_NODE_ID"
    bug = bug_create(key="BUG-001", title="Rounding", severity="P2")
    assert bug_link_test(bug=bug, node_id=IDENTITY).node_id == IDENTITY


def test_a_run_of_a_bugs_tests_leaves_out_the_links_pytest_cannot_run(monkeypatch):
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: None)
    bug = bug_create(key="BUG-001", title="Rounding", severity="P2")
    bug_link_test(bug=bug, node_id=IDENTITY)
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_b")
    run = run_trigger(bug_keys=["BUG-001"], trigger=Run.Trigger.API)
    assert run.node_ids == ["tests/test_a.py::test_b"]


def test_the_api_links_an_identity_and_refuses_what_no_tool_writes(staff_user, client_for):
    client = client_for(staff_user)
    response = client.post(
        "/api/v1/bugs/", {"key": "BUG-001", "title": "Rounding", "severity": "P2", "regression_tests": [IDENTITY]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert [t["node_id"] for t in response.json()["regression_tests"]] == [IDENTITY]
    response = client.patch("/api/v1/bugs/BUG-001/", {"regression_tests": ["Widget::"]}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
    response = client.post("/api/v1/runs/", {"node_ids": [IDENTITY]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_NODE_ID"


def _admin_post(client, bug, node_id):
    url = reverse("admin:bugs_bug_change", args=[bug.pk])
    data = {
        "key": bug.key, "title": bug.title, "severity": bug.severity, "category": bug.category, "status": bug.status,
        "discovered_at_0": "2026-11-24", "discovered_at_1": "00:00:00",
        "regression_tests-TOTAL_FORMS": "1", "regression_tests-INITIAL_FORMS": "0", "regression_tests-0-node_id": node_id,
        "regression_tests-0-bug": str(bug.pk),
        "status_changes-TOTAL_FORMS": "0", "status_changes-INITIAL_FORMS": "0",
    }  # fmt: skip
    return client.post(url, data)


def test_the_admin_form_links_an_identity_and_refuses_what_no_tool_writes(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(username="root", password="pw-correct-horse"))
    bug = bug_create(key="BUG-001", title="Rounding", severity="P2")
    refused = _admin_post(client, bug, "a::b::c::d")
    assert refused.status_code == 200
    assert "Not a pytest node id" in refused.content.decode()
    assert not RegressionTest.objects.exists()
    linked = _admin_post(client, bug, IDENTITY)
    assert linked.status_code == 302, linked.content.decode()[:2000]
    assert list(RegressionTest.objects.values_list("node_id", flat=True)) == [IDENTITY]


def test_an_identity_link_survives_the_reports_round_trip():
    bug = bug_create(key="BUG-001", title="Rounding", severity="P3", discovered_at=datetime(2026, 11, 1, tzinfo=UTC))
    for text in (IDENTITY, "shop-core::cart\\::tests\\::adds_item", 'Widget::""'):
        bug_link_test(bug=bug, node_id=text)
    exported = triage_report(now=datetime(2026, 11, 24, tzinfo=UTC))
    Bug.objects.all().delete()
    summary = triage_import(text=exported)
    assert summary.warnings == []
    links = sorted(Bug.objects.get(key="BUG-001").regression_tests.values_list("node_id", flat=True))
    assert links == sorted([IDENTITY, "shop-core::cart\\::tests\\::adds_item", 'Widget::""'])
    assert triage_report(now=datetime(2026, 11, 24, tzinfo=UTC)) == exported


@pytest.mark.regression("BUG-068")
def test_p2_integrity_parameter_id_with_separator_refused_for_linking_regression():
    """BUG-068 (P2, integrity): a pytest node id whose parameter id holds ``::`` could not be linked.

    The node id was split at every ``::``, brackets or not, so the catalog's own parametrised regression
    test (its parameters are node ids) made ``sync_regression_tests`` stop with a 400 for the whole suite,
    and the hardening loop never ran. The part in brackets is the parameter id, whatever it holds.
    """
    from bugs.services.commits import regression_tests_sync
    from bugs.services.suites import suite_default

    node_id = "bugs/tests/test_report_node_ids.py::test_p[tests/test_a.py::TestPipes::test_p[a|b`|`c]]"
    bug_create(key="BUG-001", title="Pipes", severity="P2")
    summary = regression_tests_sync(suite=suite_default(), markers={node_id: ["BUG-001"]})
    assert summary.linked == [("BUG-001", node_id)]


@pytest.mark.parametrize("text", ["../tests/test_a.py::test_b[x::y]", "tests/test_a.py::test_b[x\ny]"])
def test_a_parameter_id_is_only_the_last_names(text):
    with pytest.raises(DomainError):
        validators.test_link_validate(text)
