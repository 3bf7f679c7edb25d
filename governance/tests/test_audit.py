"""The audit log: staff only, append-only, cursor-paginated with a fixed query count."""

from __future__ import annotations

import contextlib

import pytest
from django.db import DatabaseError, transaction

from governance.models import AuditEntry, Decision
from governance.services.actions import agent_access_authorize
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def test_non_staff_cannot_read_the_audit_log(client_for, user):
    assert client_for(user).get("/api/v1/audit/").status_code == 403


def test_audit_rows_cannot_be_updated():
    agent = make_agent()
    agent_access_authorize(actor=agent.owner, agent_id=agent.pk, action="read")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.update(outcome=Decision.BLOCKED)
    assert AuditEntry.objects.get().outcome == Decision.EXECUTE


@pytest.mark.postgres
def test_audit_rows_cannot_be_deleted_on_postgresql():
    agent = make_agent()
    agent_access_authorize(actor=agent.owner, agent_id=agent.pk, action="read")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.all().delete()


def test_staff_read_and_filter_the_log_with_a_fixed_query_count(client_for, staff_user, django_assert_num_queries):
    agent = make_agent()
    for action in ("read", "read", "delete", "nope"):
        with contextlib.suppress(Exception):
            agent_access_authorize(actor=agent.owner, agent_id=agent.pk, action=action)
    client = client_for(staff_user)
    # user, its permissions and its groups' (one permission check), page
    with django_assert_num_queries(4):
        response = client.get("/api/v1/audit/", {"outcome": "blocked"})
    assert [row["action"] for row in response.json()["results"]] == ["delete"]
    assert client.get("/api/v1/audit/", {"agent": agent.pk}).json()["results"][0]["actor"] == agent.owner.username
    assert client.get("/api/v1/audit/", {"outcome": "bogus"}).status_code == 400


def test_a_nul_in_a_filter_is_a_validation_error(client_for, staff_user):
    assert client_for(staff_user).get("/api/v1/audit/", {"action": "re\x00ad"}).status_code == 400


@pytest.mark.regression("BUG-037")
@pytest.mark.parametrize("agent_id", [str(2**63), str(2**70)])
def test_p3_crash_audit_agent_filter_beyond_64_bits_regression(agent_id, client_for, staff_user):
    """BUG-037 (P3, crash): `GET audit/?agent=<2**70>` answered 500: the agent filter had no upper bound,
    so the database driver raised OverflowError. Fix: the filter is bounded to 64-bit ids and a larger
    one is a validation error (400), like `agent=0` (commit recorded in the catalog).
    """
    response = client_for(staff_user).get("/api/v1/audit/", {"agent": agent_id})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "agent" in response.json()["error"]["details"]
