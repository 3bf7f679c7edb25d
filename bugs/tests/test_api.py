"""The bugs API of SPEC section 7: routes, permissions, status rules through PATCH, query counts."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import override_settings

from bugs.models import Bug, Run, RunShard
from bugs.services.bugs import bug_create, bug_link_test
from bugs.tests.factories import make_bug, make_regression_test, make_result, make_run

pytestmark = pytest.mark.django_db

ROUTES = [
    ("get", "/api/v1/bugs/"),
    ("post", "/api/v1/bugs/"),
    ("get", "/api/v1/bugs/BUG-001/"),
    ("patch", "/api/v1/bugs/BUG-001/"),
    ("get", "/api/v1/bugs/BUG-001/results/"),
    ("get", "/api/v1/runs/"),
    ("post", "/api/v1/runs/"),
    ("get", "/api/v1/runs/1/"),
    ("post", "/api/v1/runs/import/"),
    ("get", "/api/v1/triage-report/"),
]


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_every_route_needs_a_token(api_client, method, url):
    assert getattr(api_client, method)(url, {}, format="json").status_code == 401


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_a_user_without_bugs_permissions_is_refused(user, client_for, method, url):
    make_bug(key="BUG-001")
    response = getattr(client_for(user), method)(url, {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


def test_a_user_with_view_permission_reads_but_cannot_write(user, client_for):
    user.user_permissions.add(Permission.objects.get(codename="view_bug"))
    make_bug(key="BUG-001")
    client = client_for(user)
    assert client.get("/api/v1/bugs/").status_code == 200
    assert client.patch("/api/v1/bugs/BUG-001/", {"title": "x"}, format="json").status_code == 403


def test_staff_registers_a_bug_with_its_sla_and_tests(staff_user, client_for):
    response = client_for(staff_user).post(
        "/api/v1/bugs/",
        {"title": "Unsigned tokens", "severity": "P0", "category": "security", "regression_tests": ["tests/test_auth.py::test_alg_none"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key"] == "BUG-001"
    assert body["status"] == "open"
    assert body["reporter"] == "operator"
    assert body["regression_tests"][0]["node_id"] == "tests/test_auth.py::test_alg_none"
    bug = Bug.objects.get()
    assert (bug.sla_due_at - bug.discovered_at).total_seconds() == 24 * 3600


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "x", "severity": "P9"},
        {"title": "", "severity": "P0"},
        {"title": "x", "severity": "P0", "key": "BUG-1; DROP TABLE"},
        {"title": "x", "severity": "P0", "regression_tests": ["../../etc/passwd"]},
        {"title": "x" * 301, "severity": "P0"},
        {"title": "x", "severity": "P0", "category": "<script>"},
    ],
)
def test_bad_bug_input_is_a_400_and_nothing_is_stored(staff_user, client_for, payload):
    response = client_for(staff_user).post("/api/v1/bugs/", payload, format="json")
    assert response.status_code == 400
    assert "error" in response.json()
    assert not Bug.objects.exists()


def test_a_duplicate_key_is_a_409(staff_user, client_for):
    make_bug(key="BUG-001")
    response = client_for(staff_user).post("/api/v1/bugs/", {"key": "BUG-001", "title": "x", "severity": "P2"}, format="json")
    assert response.status_code == 409


def test_patch_refuses_closing_a_p0_as_fixed_without_a_test_and_changes_nothing(staff_user, client_for):
    bug_create(key="BUG-001", title="x", severity="P0")
    response = client_for(staff_user).patch(
        "/api/v1/bugs/BUG-001/", {"title": "renamed", "status": "fixed", "fix_commit": "abc1234"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "STATUS_REFUSED"
    bug = Bug.objects.get()
    assert (bug.title, bug.status, bug.fix_commit) == ("x", "open", "")


def test_patch_moves_a_linked_p0_to_fixed_and_records_who_and_why(staff_user, client_for):
    bug = bug_create(key="BUG-001", title="x", severity="P0")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_a")
    response = client_for(staff_user).patch(
        "/api/v1/bugs/BUG-001/", {"status": "fixed", "fix_commit": "abc1234", "reason": "patched"}, format="json"
    )
    assert response.status_code == 200, response.content
    change = Bug.objects.get().status_changes.all()[0]
    assert (change.to_status, change.actor, change.reason, change.automatic) == ("fixed", staff_user, "patched", False)


def test_patch_cannot_resolve_by_hand_without_a_passing_run(staff_user, client_for):
    bug = bug_create(key="BUG-001", title="x", severity="P3")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_a")
    client = client_for(staff_user)
    client.patch("/api/v1/bugs/BUG-001/", {"status": "fixed", "fix_commit": "abc1234"}, format="json")
    assert client.patch("/api/v1/bugs/BUG-001/", {"status": "resolved"}, format="json").status_code == 409


def test_unknown_bug_key_is_a_404(staff_user, client_for):
    assert client_for(staff_user).get("/api/v1/bugs/BUG-999/").status_code == 404
    assert client_for(staff_user).get("/api/v1/bugs/not-a-key/").status_code == 404


def test_bug_results_lists_the_attached_results(staff_user, client_for):
    from bugs.parsers import ParsedResult
    from bugs.services.results import results_store

    bug = bug_create(key="BUG-001", title="x", severity="P2")
    bug_link_test(bug=bug, node_id="tests/test_a.py::test_a")
    results_store(run=make_run(), parsed=[ParsedResult(node_id="tests/test_a.py::test_a", outcome="failed", attempts=1, message="boom")])
    body = client_for(staff_user).get("/api/v1/bugs/BUG-001/results/").json()
    assert [(r["node_id"], r["outcome"], r["message"]) for r in body["results"]] == [("tests/test_a.py::test_a", "failed", "boom")]


@pytest.mark.parametrize("bugs", [1, 25])
def test_the_bug_list_costs_the_same_queries_for_any_number_of_bugs(staff_user, client_for, django_assert_num_queries, bugs):
    run = make_run()
    for _ in range(bugs):
        link = make_regression_test()
        make_result(run=run, node_id=link.node_id)
    client = client_for(staff_user)
    # user load, its permissions and its groups' (one permission check), count, bugs page, their tests
    with django_assert_num_queries(6):
        assert client.get("/api/v1/bugs/").status_code == 200


def test_posting_a_run_answers_202_and_queues_shards(staff_user, client_for, django_capture_on_commit_callbacks, monkeypatch):
    enqueued = []
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: enqueued.append(run_id))
    bug = bug_create(key="BUG-001", title="x", severity="P2")
    for n in range(4):
        bug_link_test(bug=bug, node_id=f"tests/test_a.py::test_{n}")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(staff_user).post("/api/v1/runs/", {"bugs": ["BUG-001"], "shards": 2}, format="json")
    assert response.status_code == 202, response.content
    run = Run.objects.get()
    # The total is unknown (0) until pytest has collected the four node ids (BUG-111).
    assert (response.json()["status"], len(run.node_ids), run.total, enqueued) == ("queued", 4, 0, [run.pk])
    assert [len(s.node_ids) for s in RunShard.objects.filter(run=run)] == [2, 2]
    assert client_for(staff_user).get(f"/api/v1/runs/{run.pk}/").json()["total"] == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"suite": "../../etc"},
        {"suite": "nope"},
        {"bugs": ["BUG-404"]},
        {"node_ids": ["--pdb"]},
        {"node_ids": ["tests/a.py::t; rm -rf /"]},
        {"shards": 0},
        {"checkout_path": "/tmp", "pytest_args": ["-p", "evil"]},
    ],
)
def test_a_run_request_can_never_configure_or_inject_into_a_suite(staff_user, client_for, payload, monkeypatch):
    monkeypatch.setattr("bugs.services.runs.run_enqueue", lambda run_id: None)
    response = client_for(staff_user).post("/api/v1/runs/", payload, format="json")
    if "checkout_path" in payload:
        # Unknown fields are ignored: the default suite runs with its admin-registered settings.
        assert response.status_code == 202
        assert Run.objects.get().suite.checkout_path == ""
        return
    assert response.status_code in (400, 404)
    assert not Run.objects.exists()


def test_the_broker_down_at_enqueue_is_a_503_and_the_run_is_not_left_queued(
    staff_user, client_for, django_capture_on_commit_callbacks, monkeypatch
):
    from kombu.exceptions import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("bugs.tasks.run_shard_task.delay", down)
    bug_link_test(bug=bug_create(key="BUG-001", title="x", severity="P2"), node_id="tests/test_a.py::test_a")
    from atom.errors import ServiceUnavailableError

    # In a request the commit happens inside the view, so this error becomes the 503 answer; the test's
    # own transaction delays the commit to the end of this block.
    with pytest.raises(ServiceUnavailableError), django_capture_on_commit_callbacks(execute=True):
        client_for(staff_user).post("/api/v1/runs/", {"bugs": ["BUG-001"]}, format="json")
    assert Run.objects.get().status == "error"


@pytest.mark.regression("BUG-006")
@pytest.mark.parametrize(
    ("query", "content_type"), [("", "text/markdown"), ("?format=json", "application/json"), ("?format=csv", "text/csv")]
)
def test_the_triage_report_route_serves_three_formats(staff_user, client_for, query, content_type):
    bug_create(key="BUG-001", title="x", severity="P2")
    response = client_for(staff_user).get(f"/api/v1/triage-report/{query}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert b"BUG-001" in response.content


def test_the_triage_report_route_refuses_an_unknown_format(staff_user, client_for):
    assert client_for(staff_user).get("/api/v1/triage-report/?format=xlsx").status_code == 400


@override_settings(ATOM_WRITE_RATE_PER_USER="2/m")
def test_writes_are_rate_limited(staff_user, client_for):
    client = client_for(staff_user)
    statuses = [client.post("/api/v1/bugs/", {"title": f"t{n}", "severity": "P3"}, format="json").status_code for n in range(3)]
    assert statuses == [201, 201, 429]


@pytest.mark.regression("BUG-031")
def test_p2_integrity_severity_raise_bypasses_test_rule_regression(staff_user, client_for):
    """BUG-031 (P2, integrity): raising a fixed bug's severity bypassed the regression-test rule.

    A P3 bug closed as fixed without a linked test could be PATCHed to P0 (200): a P0 fixed with no
    test, which the status rules refuse when a P0 is moved to fixed. Fix: bug_update applies the same
    rule when the severity of a fixed or resolved bug changes (commit recorded in the catalog).
    """
    bug_create(key="BUG-001", title="x", severity="P3")
    client = client_for(staff_user)
    assert client.patch("/api/v1/bugs/BUG-001/", {"status": "fixed", "fix_commit": "abc1234"}, format="json").status_code == 200
    before = Bug.objects.values("severity", "sla_due_at", "status", "updated_at").get()
    response = client.patch("/api/v1/bugs/BUG-001/", {"severity": "P0"}, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "STATUS_REFUSED"
    assert "regression test" in response.json()["error"]["message"]
    assert Bug.objects.values("severity", "sla_due_at", "status", "updated_at").get() == before


@pytest.mark.regression("BUG-032")
def test_p2_crash_fix_commit_change_on_resolved_bug_regression(staff_user, client_for):
    """BUG-032 (P2, crash): PATCHing the fix commit of a resolved bug answered 500.

    The same-status shortcut of the status rules skipped the refusal check, then the evidence lookup
    for the new commit found none and an assertion failed (AssertionError, 500). Fix: a resolved bug's
    verified fix commit cannot be changed without reopening it; the PATCH is refused with 409
    STATUS_REFUSED (commit recorded in the catalog).
    """
    link = make_regression_test(bug=make_bug(key="BUG-001", severity="P1"), node_id="tests/test_a.py::test_a")
    result = make_result(node_id=link.node_id, run=make_run(status="passed"))
    Bug.objects.filter(pk=link.bug.pk).update(
        status="resolved", fix_commit="aaaaaaa", verified_by=result, resolved_at=result.run.finished_at
    )
    fields = ("status", "fix_commit", "verified_by", "resolved_at", "verification_note", "updated_at")
    before = Bug.objects.values(*fields).get()
    response = client_for(staff_user).patch("/api/v1/bugs/BUG-001/", {"fix_commit": "bbbbbbb"}, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "STATUS_REFUSED"
    assert Bug.objects.values(*fields).get() == before
    assert not Bug.objects.get().status_changes.exists()


@pytest.mark.regression("BUG-045")
def test_p3_integrity_duplicate_cycle_regression(staff_user, client_for):
    """BUG-045 (P3, integrity): bugs could be closed as duplicates of each other in a cycle.

    Only one level was checked, so B duplicate of C, C duplicate of A and then A duplicate of B were
    all accepted, leaving no original in the chain. Fix: the status rules follow the whole chain of
    the target and refuse (409 STATUS_REFUSED) a duplicate that would lead back to the bug (commit
    recorded in the catalog).
    """
    for key in ("BUG-001", "BUG-002", "BUG-003"):
        bug_create(key=key, title=key, severity="P3")
    client = client_for(staff_user)

    def duplicate(key: str, of: str):
        return client.patch(f"/api/v1/bugs/{key}/", {"status": "duplicate", "duplicate_of": of}, format="json")

    assert duplicate("BUG-002", "BUG-003").status_code == 200
    assert duplicate("BUG-003", "BUG-001").status_code == 200
    response = duplicate("BUG-001", "BUG-002")
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "STATUS_REFUSED"
    bug = Bug.objects.get(key="BUG-001")
    assert (bug.status, bug.duplicate_of_id) == ("open", None)
