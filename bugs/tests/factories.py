"""factory_boy factories of the bugs app, with typed helpers for the tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django.utils import timezone
from factory.declarations import LazyAttribute, LazyFunction, Sequence, SubFactory
from factory.django import DjangoModelFactory

from bugs.models import Bug, RegressionTest, Result, Run, Suite


class SuiteFactory(DjangoModelFactory[Suite]):
    class Meta:
        model = Suite
        django_get_or_create = ("name",)

    name = Sequence(lambda n: f"suite-{n}")
    pytest_args: list[str] = []
    timeout_seconds = 60


class BugFactory(DjangoModelFactory[Bug]):
    class Meta:
        model = Bug

    key = Sequence(lambda n: f"BUG-{n + 100:03d}")
    title = Sequence(lambda n: f"Defect number {n}")
    severity = "P2"
    category = "quality"
    discovered_at = LazyFunction(timezone.now)
    sla_due_at = LazyAttribute(lambda o: o.discovered_at + timedelta(days=7))


class RegressionTestFactory(DjangoModelFactory[RegressionTest]):
    class Meta:
        model = RegressionTest

    bug = SubFactory(BugFactory)
    node_id = Sequence(lambda n: f"tests/test_mod.py::test_case_{n}")


class RunFactory(DjangoModelFactory[Run]):
    class Meta:
        model = Run

    suite = SubFactory(SuiteFactory, name="atom")
    trigger = Run.Trigger.API
    status = "running"
    commit_sha = "a" * 40
    started_at = LazyFunction(timezone.now)
    finished_at = LazyAttribute(lambda o: None if o.status in ("queued", "running") else timezone.now())


class ResultFactory(DjangoModelFactory[Result]):
    class Meta:
        model = Result

    run = SubFactory(RunFactory)
    node_id = Sequence(lambda n: f"tests/test_mod.py::test_case_{n}")
    identity = LazyAttribute(lambda o: o.node_id)
    outcome = "passed"


def make_bug(**fields: Any) -> Bug:
    return cast(Bug, BugFactory(**fields))


def make_regression_test(**fields: Any) -> RegressionTest:
    return cast(RegressionTest, RegressionTestFactory(**fields))


def make_run(**fields: Any) -> Run:
    return cast(Run, RunFactory(**fields))


def make_result(**fields: Any) -> Result:
    return cast(Result, ResultFactory(**fields))
