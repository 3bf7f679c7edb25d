"""factory_boy factories of the bugs app."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from bugs.models import Bug, RegressionTest, Result, Run, Suite


class SuiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suite
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"suite-{n}")
    pytest_args: list[str] = []
    timeout_seconds = 60


class BugFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bug

    key = factory.Sequence(lambda n: f"BUG-{n + 100:03d}")
    title = factory.Sequence(lambda n: f"Defect number {n}")
    severity = "P2"
    category = "quality"
    discovered_at = factory.LazyFunction(timezone.now)
    sla_due_at = factory.LazyAttribute(lambda o: o.discovered_at + timedelta(days=7))


class RegressionTestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegressionTest

    bug = factory.SubFactory(BugFactory)
    node_id = factory.Sequence(lambda n: f"tests/test_mod.py::test_case_{n}")


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    suite = factory.SubFactory(SuiteFactory, name="atom")
    trigger = Run.Trigger.API
    status = "running"
    commit_sha = "a" * 40
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyAttribute(lambda o: None if o.status in ("queued", "running") else timezone.now())


class ResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Result

    run = factory.SubFactory(RunFactory)
    node_id = factory.Sequence(lambda n: f"tests/test_mod.py::test_case_{n}")
    outcome = "passed"
