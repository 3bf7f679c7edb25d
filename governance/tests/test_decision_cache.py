"""The governance decision cache: every input is part of the key, so no change is ever served stale."""

from __future__ import annotations

import pytest

from governance.models import Decision, Maturity
from governance.selectors import action_map_version_get
from governance.services.decision import action_policy_delete, action_policy_save, governance_decide
from governance.services.maturity import agent_maturity_set_by_admin
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def _decide(agent, action):
    agent.refresh_from_db()
    return governance_decide(
        agent_id=agent.pk, maturity=agent.maturity, state=agent.state, map_version=action_map_version_get(), action=action
    )


def test_a_change_of_the_action_map_invalidates_cached_decisions():
    agent = make_agent()
    assert _decide(agent, "read").outcome == Decision.EXECUTE
    action_policy_save(name="read", complexity=2, proposable=True)
    assert _decide(agent, "read").outcome == Decision.BLOCKED
    from governance.models import ActionPolicy

    action_policy_delete(policy=ActionPolicy.objects.get(name="read"))
    assert _decide(agent, "read").outcome == Decision.UNKNOWN_ACTION


def test_a_change_of_maturity_or_state_is_a_different_key(staff_user):
    agent = make_agent()
    assert _decide(agent, "draft").outcome == Decision.BLOCKED
    agent_maturity_set_by_admin(agent_id=agent.pk, actor=staff_user, maturity=Maturity.INTERN, reason="ok")
    assert _decide(agent, "draft").outcome == Decision.EXECUTE
    type(agent).objects.filter(pk=agent.pk).update(state="stopped")
    assert _decide(agent, "draft").outcome == Decision.INACTIVE


def test_canvas_javascript_stays_unproposable_whatever_the_admin_sets():
    assert action_policy_save(name="canvas_execute_javascript", complexity=4, proposable=True).proposable is False


@pytest.mark.regression("BUG-013")
def test_decisions_still_come_from_the_database_when_the_shared_cache_is_down(monkeypatch, client_for):
    from django.core.cache import cache

    from governance.services.decision import governance_cache_clear

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    agent = make_agent(maturity=Maturity.INTERN)
    governance_cache_clear()
    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    assert _decide(agent, "draft").outcome == Decision.EXECUTE
    assert _decide(agent, "create").outcome == Decision.PROPOSAL
