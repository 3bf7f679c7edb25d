"""Which events are heard: by signal once the change commits (a P0/P1 opened, a regression reopened, a
run errored, a mention), and by the periodic scan (SLAs due soon or breached, proposals waiting, runs
stuck, flaky tests), each told once however often the scan runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from atom.celery import app
from bugs.models import RunShard
from bugs.services.bugs import bug_create
from bugs.services.comments import comment_create
from bugs.tests.factories import make_bug, make_regression_test, make_run
from governance.models import Proposal
from governance.tests.factories import make_agent
from notifications.models import Channel, Delivery, EventKind, Notification
from notifications.services.events import event_record
from notifications.services.scan import events_scan

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager(settings):
    """Tasks run in this process (the worker tests run them in a real worker); mail stays in memory."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def team():
    return Channel.objects.create(name="team", kind=Channel.Kind.EMAIL, emails="team@example.org")


def test_a_p0_opened_is_told_once_committed_and_a_p2_is_not(eager, team, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        p0 = bug_create(title="Tokens accepted unsigned", severity="P0")
        bug_create(title="A typo", severity="P2")
    assert list(Notification.objects.values_list("kind", "object_key")) == [(EventKind.BUG_OPENED, f"bug:{p0.key}")]
    assert [message.subject for message in mail.outbox] == [f"[Atom] {p0.key} (P0) opened"]


def test_a_mention_tells_the_active_users_named_but_not_the_author(eager, django_user_model, django_capture_on_commit_callbacks):
    author = django_user_model.objects.create_user(username="lead", email="lead@example.org", password="x" * 12)
    ana = django_user_model.objects.create_user(username="ana", email="ana@example.org", password="x" * 12)
    django_user_model.objects.create_user(username="gone", email="gone@example.org", password="x" * 12, is_active=False)
    bug = make_bug()
    with django_capture_on_commit_callbacks(execute=True):
        comment = comment_create(bug=bug, author=author, body="@ana please look; @gone and @nobody cannot. -- @lead")
    assert comment.mentions == ["ana", "lead"]
    assert [message.to for message in mail.outbox] == [["ana@example.org"]]
    assert mail.outbox[0].subject == f"[Atom] lead mentioned you on {bug.key}"
    assert Delivery.objects.get().user == ana


def test_an_errored_run_and_a_reopened_regression_are_told(eager, team, django_capture_on_commit_callbacks):
    bug = make_bug(status="open")
    with django_capture_on_commit_callbacks(execute=True):
        run = make_run(status="error", error_message="pytest could not start")
        from bugs.services.status import _record

        _record(bug, from_status="resolved", to_status="reopened", actor=None, reason="Its test failed again.", automatic=True)
    kinds = dict(Notification.objects.values_list("kind", "object_key"))
    assert kinds == {EventKind.RUN_ERRORED: f"run:{run.pk}", EventKind.REGRESSION_REOPENED: f"bug:{bug.key}"}


def test_the_scan_finds_each_time_driven_event_once(team, settings):
    now = timezone.now()
    soon = make_bug(severity="P0", discovered_at=now - timedelta(hours=23), sla_due_at=now + timedelta(hours=1))
    late = make_bug(severity="P1", discovered_at=now - timedelta(days=4), sla_due_at=now - timedelta(hours=3))
    make_bug(severity="P3", discovered_at=now, sla_due_at=now + timedelta(days=14))
    stuck = make_run(status="running")
    healthy = make_run(status="running")
    # A shard whose worker stopped heartbeating: its lease ran out. The other's lease still runs.
    RunShard.objects.create(run=stuck, index=0, status="running", lease_expires_at=now - timedelta(minutes=5))
    RunShard.objects.create(run=healthy, index=0, status="running", lease_expires_at=now + timedelta(minutes=1))
    agent = make_agent()
    proposal = Proposal.objects.create(
        agent=agent, requested_by=agent.owner, action="deploy", complexity=3, expires_at=now + timedelta(days=1)
    )
    Proposal.objects.filter(pk=proposal.pk).update(created_at=now - timedelta(minutes=settings.ATOM_NOTIFY_PROPOSAL_WAIT_MINUTES + 5))
    make_regression_test(bug=late, node_id="tests/test_x.py::test_sometimes", is_flaky=True, flaky_commit="c" * 40)

    events = events_scan(now=now)
    found = {(event.kind, event.object_key) for event in events}
    assert found == {
        (EventKind.SLA_DUE_SOON, f"bug:{soon.key}"),
        (EventKind.SLA_BREACHED, f"bug:{late.key}"),
        (EventKind.RUN_STUCK, f"run:{stuck.pk}"),
        (EventKind.PROPOSAL_WAITING, f"proposal:{proposal.pk}"),
        (EventKind.FLAKY_DETECTED, "test:tests/test_x.py::test_sometimes"),
    }
    sent = [pk for event in events for pk in event_record(event=event)]
    again = [pk for event in events_scan(now=now + timedelta(minutes=1)) for pk in event_record(event=event)]
    assert len(sent) == 5
    assert again == []
    assert Notification.objects.count() == 5


def test_a_new_due_time_is_a_new_event(team):
    now = timezone.now()
    bug = make_bug(severity="P0", discovered_at=now - timedelta(hours=23), sla_due_at=now + timedelta(hours=1))
    [event] = [event for event in events_scan(now=now) if event.kind == EventKind.SLA_DUE_SOON]
    assert event_record(event=event)
    type(bug).objects.filter(pk=bug.pk).update(sla_due_at=now + timedelta(minutes=90))
    [moved] = [event for event in events_scan(now=now) if event.kind == EventKind.SLA_DUE_SOON]
    assert event_record(event=moved)
    assert Notification.objects.filter(kind=EventKind.SLA_DUE_SOON).count() == 2


def test_a_project_channel_hears_only_its_project(team):
    from bugs.models import Project

    other = Project.objects.create(slug="shop", name="Shop")
    Channel.objects.create(name="shop", kind=Channel.Kind.EMAIL, emails="shop@example.org", project=other)
    bug = make_bug()
    from notifications.services.events import Event

    event_record(
        event=Event(kind=EventKind.BUG_OPENED, object_key=f"bug:{bug.key}", trigger="opened", title="t", project_id=bug.project_id)
    )
    assert list(Delivery.objects.values_list("target", flat=True)) == ["team@example.org"]


def test_an_email_channel_with_a_long_list_of_addresses_is_recorded_whole():
    addresses = ", ".join(f"operator-number-{n}@operations.example.org" for n in range(60))
    assert len(addresses) > 1000
    Channel.objects.create(name="everyone", kind=Channel.Kind.EMAIL, emails=addresses)
    from notifications.services.events import Event

    [pk] = event_record(event=Event(kind=EventKind.RUN_STUCK, object_key="run:1", trigger="1", title="Run #1 stuck"))
    assert Delivery.objects.get(pk=pk).target == addresses
