"""The time-driven events, found by a periodic scan: SLAs due soon or breached, proposals waiting too
long, runs errored or stuck, tests turned flaky. Each is keyed by what set it off (the SLA due time, the
run id…), so a scan that runs again, or twice at once, finds the same events and records nothing new.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from bugs import selectors as bug_selectors
from governance import selectors as governance_selectors
from notifications.models import EventKind
from notifications.services.events import Event

# Runs that errored this long ago are still told on the first scan after an outage.
ERRORED_LOOKBACK = timedelta(days=1)


def bug_url(bug: dict[str, Any]) -> str:
    return f"/admin/bugs/bug/{bug['pk']}/change/"


def run_url(run: dict[str, Any]) -> str:
    return f"/admin/bugs/run/{run['pk']}/change/"


def _sla_events(now: datetime) -> list[Event]:
    warning = now + timedelta(hours=settings.ATOM_NOTIFY_SLA_WARNING_HOURS)
    events = []
    for bug in bug_selectors.bugs_sla_due(after=now, until=warning):
        due = bug["sla_due_at"].isoformat()
        events.append(
            Event(
                kind=EventKind.SLA_DUE_SOON,
                object_key=f"bug:{bug['key']}",
                trigger=due,
                project_id=bug["project_id"],
                url=bug_url(bug),
                title=f"{bug['key']} ({bug['severity']}) is due at {bug['sla_due_at']:%Y-%m-%d %H:%M} UTC",
                text=bug["title"],
            )
        )
    for bug in bug_selectors.bugs_sla_due(after=now - timedelta(days=3650), until=now):
        due = bug["sla_due_at"].isoformat()
        events.append(
            Event(
                kind=EventKind.SLA_BREACHED,
                object_key=f"bug:{bug['key']}",
                trigger=due,
                project_id=bug["project_id"],
                url=bug_url(bug),
                title=f"{bug['key']} ({bug['severity']}) breached its SLA at {bug['sla_due_at']:%Y-%m-%d %H:%M} UTC",
                text=bug["title"],
            )
        )
    return events


def _run_events(now: datetime) -> list[Event]:
    events = [run_errored_event(run) for run in bug_selectors.runs_errored(since=now - ERRORED_LOOKBACK)]
    # Stuck as the dashboard's health panel says: past its lease, its worker gone quiet.
    events += [
        Event(
            kind=EventKind.RUN_STUCK,
            object_key=f"run:{run['pk']}",
            trigger=str(run["pk"]),
            project_id=run["suite__project_id"],
            title=f"Run #{run['pk']} of {run['suite__name']} is stuck past its lease ({run['status']})",
            url=run_url(run),
        )
        for run in bug_selectors.runs_stuck(now=now, limit=500)
    ]
    return events


def run_errored_event(run: dict[str, Any]) -> Event:
    return Event(
        kind=EventKind.RUN_ERRORED,
        object_key=f"run:{run['pk']}",
        trigger=str(run["pk"]),
        project_id=run["suite__project_id"],
        title=f"Run #{run['pk']} of {run['suite__name']} errored",
        text=run["error_message"][:2000],
        url=run_url(run),
    )


def flaky_event(test: dict[str, Any]) -> Event:
    return Event(
        kind=EventKind.FLAKY_DETECTED,
        object_key=f"test:{test['node_id']}"[:200],
        trigger=test["flaky_commit"] or "flaky",
        project_id=test["bug__project_id"],
        title=f"Flaky test linked to {test['bug__key']}",
        text=test["node_id"],
    )


def _proposal_events(now: datetime) -> list[Event]:
    minutes = settings.ATOM_NOTIFY_PROPOSAL_WAIT_MINUTES
    return [
        Event(
            kind=EventKind.PROPOSAL_WAITING,
            object_key=f"proposal:{proposal['pk']}",
            trigger=proposal["created_at"].isoformat(),
            title=f"Proposal #{proposal['pk']} ({proposal['action']} by {proposal['agent__name']}) has waited over {minutes} minutes",
            url=f"/admin/governance/proposal/{proposal['pk']}/change/",
        )
        for proposal in governance_selectors.proposals_waiting(created_before=now - timedelta(minutes=minutes))
    ]


def events_scan(*, now: datetime | None = None) -> list[Event]:
    """Every time-driven event true at ``now`` (already-told ones included: recording dedupes them)."""
    now = now or timezone.now()
    events = _sla_events(now) + _run_events(now) + _proposal_events(now)
    # Flaky links are marked by bulk updates that send no signal: the scan is where they are heard.
    events += [flaky_event(test) for test in bug_selectors.flaky_tests_noticed()]
    return events
