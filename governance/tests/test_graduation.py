"""Graduation: the readiness formula and the criteria of each tier; promotion only through them or an admin."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atom.errors import DomainError
from governance.models import Agent, Maturity, MaturityChange, MaturityChangeKind
from governance.services.maturity import (
    agent_graduate,
    agent_maturity_set_by_admin,
    agent_outcome_record,
    graduation_evaluate,
    readiness_score,
)
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def _episodes(agent, count, *, interventions=0, score=0.99, success=True, start=0):
    for index in range(start, start + count):
        agent_outcome_record(
            agent_id=agent.pk, reference=f"ep-{index}", success=success, interventions=interventions, constitutional_score=score
        )


def test_readiness_is_the_weighted_sum_of_the_spec():
    assert readiness_score(zero_intervention_ratio=1, mean_constitutional=0.9, mean_confidence=0.6, success_rate=0.5) == pytest.approx(
        0.4 + 0.27 + 0.12 + 0.05
    )


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_readiness_is_always_in_unit_range(a, b, c, d):
    assert 0 <= readiness_score(zero_intervention_ratio=a, mean_constitutional=b, mean_confidence=c, success_rate=d) <= 1


def test_a_student_with_the_evidence_and_the_confidence_graduates_to_intern():
    agent = make_agent(confidence=Decimal("0.5500"))
    _episodes(agent, 10)
    report = agent_graduate(agent_id=agent.pk)
    assert report.eligible, report.unmet
    assert Agent.objects.get(pk=agent.pk).maturity == Maturity.INTERN
    change = MaturityChange.objects.get()
    assert (change.kind, change.evidence["episodes"]) == (MaturityChangeKind.GRADUATION, 10)


def test_too_few_episodes_keep_the_tier():
    agent = make_agent(confidence=Decimal("0.5500"))
    _episodes(agent, 9)
    report = agent_graduate(agent_id=agent.pk)
    assert not report.eligible
    assert Agent.objects.get(pk=agent.pk).maturity == Maturity.STUDENT


def test_confidence_outside_the_target_band_keeps_the_tier():
    agent = make_agent(confidence=Decimal("0.4500"))
    _episodes(agent, 20)
    assert not graduation_evaluate(agent=agent).eligible


def test_autonomy_needs_zero_interventions():
    agent = make_agent(maturity=Maturity.SUPERVISED, confidence=Decimal("0.9500"))
    _episodes(agent, 60)
    _episodes(agent, 1, interventions=1, start=60)
    report = graduation_evaluate(agent=agent)
    assert report.target == Maturity.AUTONOMOUS
    assert not report.eligible
    assert any("intervention" in reason for reason in report.unmet)


def test_a_low_constitutional_score_blocks_supervised():
    agent = make_agent(maturity=Maturity.INTERN, confidence=Decimal("0.7500"))
    _episodes(agent, 30, score=0.80)
    assert not graduation_evaluate(agent=agent).eligible


def test_an_admin_promotion_needs_a_reason_and_is_recorded(staff_user):
    agent = make_agent()
    with pytest.raises(DomainError):
        agent_maturity_set_by_admin(agent_id=agent.pk, actor=staff_user, maturity=Maturity.INTERN, reason=" ")
    agent_maturity_set_by_admin(agent_id=agent.pk, actor=staff_user, maturity=Maturity.INTERN, reason="Reviewed by hand")
    agent.refresh_from_db()
    assert (agent.maturity, agent.confidence) == (Maturity.INTERN, Decimal("0.5000"))
    change = MaturityChange.objects.get()
    assert (change.kind, change.reason, change.actor_id) == (MaturityChangeKind.ADMIN_PROMOTION, "Reviewed by hand", staff_user.pk)
