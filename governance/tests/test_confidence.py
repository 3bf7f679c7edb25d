"""Confidence updates: the deltas, clamping, 4 decimals, immediate demotion, never an automatic promotion."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.models import MATURITY_FLOOR, MATURITY_RANK, Maturity, MaturityChange, MaturityChangeKind
from governance.services.maturity import agent_confidence_update, confidence_delta, maturity_for_confidence
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("positive", "high", "delta"),
    [(True, True, "0.05"), (False, True, "-0.10"), (True, False, "0.01"), (False, False, "-0.02")],
)
def test_the_deltas_are_those_of_the_spec(positive, high, delta):
    assert confidence_delta(positive=positive, high_impact=high) == Decimal(delta)


def test_confidence_is_clamped_at_one_and_zero():
    agent = make_agent(maturity=Maturity.AUTONOMOUS, confidence=Decimal("0.98"))
    assert agent_confidence_update(agent_id=agent.pk, delta=Decimal("0.05")).confidence == Decimal("1.0000")
    low = make_agent(confidence=Decimal("0.05"))
    assert agent_confidence_update(agent_id=low.pk, delta=Decimal("-0.10")).confidence == Decimal("0.0000")


def test_confidence_is_stored_to_four_decimals():
    agent = make_agent(confidence=Decimal("0.1234"))
    agent_confidence_update(agent_id=agent.pk, delta=Decimal("0.00005"))
    agent.refresh_from_db()
    assert agent.confidence.as_tuple().exponent == -4


def test_falling_below_the_floor_demotes_at_once_to_the_supported_tier():
    agent = make_agent(maturity=Maturity.AUTONOMOUS, confidence=Decimal("0.9000"))
    change = agent_confidence_update(agent_id=agent.pk, delta=Decimal("-0.50"))
    assert (change.maturity, change.demoted_from) == (Maturity.STUDENT, Maturity.AUTONOMOUS)
    agent.refresh_from_db()
    assert agent.maturity == Maturity.STUDENT
    assert MaturityChange.objects.get().kind == MaturityChangeKind.CONFIDENCE_DEMOTION


def test_a_guardrail_violation_drops_to_at_most_supervised():
    agent = make_agent(maturity=Maturity.AUTONOMOUS, confidence=Decimal("0.9900"))
    change = agent_confidence_update(agent_id=agent.pk, delta=Decimal("-0.02"), guardrail_violation=True)
    assert change.maturity == Maturity.SUPERVISED
    assert MaturityChange.objects.get().kind == MaturityChangeKind.GUARDRAIL_DEMOTION


def test_rising_confidence_never_promotes_by_itself():
    agent = make_agent(confidence=Decimal("0.4900"))
    assert agent_confidence_update(agent_id=agent.pk, delta=Decimal("0.05")).maturity == Maturity.STUDENT


@pytest.mark.parametrize(
    ("value", "tier"),
    [("0", "STUDENT"), ("0.4999", "STUDENT"), ("0.5", "INTERN"), ("0.7", "SUPERVISED"), ("0.9", "AUTONOMOUS"), ("1", "AUTONOMOUS")],
)
def test_band_lower_bounds_are_inclusive(value, tier):
    assert maturity_for_confidence(Decimal(value)) == tier


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.sampled_from(list(Maturity)),
    steps=st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=12),
)
def test_confidence_stays_in_range_and_the_tier_stays_consistent(start, steps):
    agent = make_agent(maturity=start)
    for positive, high, guardrail in steps:
        agent_confidence_update(
            agent_id=agent.pk, delta=confidence_delta(positive=positive, high_impact=high), guardrail_violation=guardrail and not positive
        )
        agent.refresh_from_db()
        assert Decimal(0) <= agent.confidence <= Decimal(1)
        # Never above what the confidence supports, never above where it started.
        assert agent.confidence >= MATURITY_FLOOR[agent.maturity]
        assert MATURITY_RANK[agent.maturity] <= MATURITY_RANK[start]
