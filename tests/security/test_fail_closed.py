"""Faults inside the guards, and what they must never let through (QUALITY part B, access control,
data integrity and Celery).

- An exception inside a governance or permission check denies: nothing runs, nothing is charged or
  served, and the answer is the generic error body with none of the exception's text.
- An agent with history cannot be deleted (PROTECT), and a ProtectedError reaching the API is a 409.
- Every task that retries does so a bounded number of times, with exponential backoff, jitter and a
  cap, and then ends in a terminal failure state: no retry storm.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import OperationalError
from django.db.models import ProtectedError

from atom.celery import app
from episodes.tasks import episode_segment_task
from governance.models import ActionExecution, Agent, AuditEntry, Maturity
from governance.tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
SECRET = "secret internals: DATABASE_URL=postgres://u:p@h/db"


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(SECRET)


def _assert_generic_500(response: Any) -> None:
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "INTERNAL_ERROR"
    assert "secret" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_an_exception_inside_the_governance_decision_denies_and_charges_nothing(user, client_for, monkeypatch):
    agent = AgentFactory.create(owner=user, maturity=Maturity.AUTONOMOUS, budget=Decimal("10.00"))
    monkeypatch.setattr("governance.services.actions.governance_decide", _explode)

    response = client_for(user).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "search", "cost": "1.00"}, format="json")

    _assert_generic_500(response)
    assert ActionExecution.objects.count() == 0
    assert Agent.objects.get(pk=agent.pk).budget == Decimal("10.00")


@pytest.mark.parametrize(
    ("guard", "url"),
    [
        ("atom.api.permissions.HasAppPermissions.has_permission", "/api/v1/bugs/"),
        ("atom.api.permissions.HasAppPermissions.has_permission", "/api/v1/audit/"),
    ],
)
def test_an_exception_inside_a_permission_check_serves_nothing(guard, url, staff_user, client_for, monkeypatch):
    monkeypatch.setattr(guard, _explode)
    _assert_generic_500(client_for(staff_user).get(url))


def test_an_agent_with_history_cannot_be_deleted_and_keeps_its_history(user, client_for):
    agent = AgentFactory.create(owner=user, maturity=Maturity.AUTONOMOUS)
    assert client_for(user).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "search"}, format="json").status_code == 200
    audit_rows = AuditEntry.objects.filter(agent=agent).count()

    with pytest.raises(ProtectedError):
        agent.delete()

    assert Agent.objects.filter(pk=agent.pk).exists()
    assert AuditEntry.objects.filter(agent=agent).count() == audit_rows >= 1
    assert client_for(user).delete(f"/api/v1/agents/{agent.pk}/").status_code == 405


def test_the_admin_refuses_to_delete_an_agent_with_history(user, admin_client):
    agent = AgentFactory.create(owner=user, maturity=Maturity.AUTONOMOUS)
    from governance.services.audit import audit_record

    audit_record(agent=agent, actor=user, action="search", verdict_outcome="allowed", reason="history")
    response = admin_client.post(f"/admin/governance/agent/{agent.pk}/delete/", {"post": "yes"})
    assert response.status_code in (200, 403)  # the "cannot delete" page, or no delete permission at all
    assert Agent.objects.filter(pk=agent.pk).exists()


@pytest.mark.urls("atom.tests.urls_with_faults")
def test_a_protected_delete_reaching_the_api_is_a_409(user, client_for):
    agent = AgentFactory.create(owner=user, maturity=Maturity.AUTONOMOUS)
    client_for(user).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "search"}, format="json")

    response = client_for(user).post("/fault/delete-agent/", {"agent": agent.pk}, format="json")

    assert response.status_code == 409
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert Agent.objects.filter(pk=agent.pk).exists()


app.loader.import_default_modules()  # every app's tasks module, as a worker would load them
RETRYING_TASKS = sorted(name for name, task in app.tasks.items() if getattr(task, "autoretry_for", ()))


def test_the_retrying_tasks_are_found():
    assert {"episodes.segment_session", "bugs.run_shard"} <= set(RETRYING_TASKS)


@pytest.mark.parametrize("name", RETRYING_TASKS)
def test_every_retrying_task_backs_off_with_jitter_up_to_a_cap_a_bounded_number_of_times(name):
    task: Any = app.tasks[name]  # the retry options are set per task, not declared on Task
    assert task.retry_backoff
    assert task.retry_jitter
    assert 0 < task.retry_backoff_max <= 600
    assert 0 < task.max_retries <= 5


def test_a_transient_error_is_retried_with_growing_capped_delays_then_fails_for_good(monkeypatch):
    calls: list[int] = []
    countdowns: list[float] = []

    def flaky_database(*, session_pk: int) -> None:
        calls.append(session_pk)
        raise OperationalError("database is locked")

    retry = episode_segment_task.retry

    def recording_retry(*args: Any, **kwargs: Any) -> Any:
        countdowns.append(kwargs["countdown"])
        return retry(*args, **kwargs)

    monkeypatch.setattr("episodes.services.segmenting.episode_segment", flaky_database)
    monkeypatch.setattr(episode_segment_task, "retry", recording_retry)

    result = episode_segment_task.apply(args=(7,))
    task: Any = episode_segment_task

    assert result.state == "FAILURE"
    assert isinstance(result.result, OperationalError)
    assert calls == [7] * (task.max_retries + 1)  # bounded: no storm
    # One countdown per retry, and a last call to retry() that gives up and re-raises.
    assert len(countdowns) == task.max_retries + 1
    for attempt, countdown in enumerate(countdowns):
        ceiling = min(task.retry_backoff_max, task.retry_backoff * 2**attempt)
        assert 0 <= countdown <= ceiling  # full jitter under an exponential, capped ceiling
