"""The events other apps tell by signal: heard here, recorded by a task once the sender's transaction has
committed (a rolled-back change tells nobody). The other apps know nothing of this module.

Changes made by bulk updates send no signal; the periodic scan (notifications.services.scan) finds
those (errored runs, flaky tests) as well.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from bugs import selectors as bug_selectors
from bugs.signals import comment_posted
from notifications.models import EventKind
from notifications.services.events import Event
from notifications.services.scan import bug_url, flaky_event

logger = logging.getLogger("atom.notifications")

OPENING_SEVERITIES = ("P0", "P1")


def _tell(build: Any) -> None:
    """Once committed, build the event and enqueue its recording; a failure here never fails the sender."""

    def send() -> None:
        from notifications.tasks import event_record_task

        for event in build():
            event_record_task.delay(event.as_dict())

    transaction.on_commit(send, robust=True)


def _bug_events(bug_id: int, kind: str, trigger: str, title: str) -> list[Event]:
    return [
        Event(
            kind=kind,
            object_key=f"bug:{bug['key']}",
            trigger=trigger,
            project_id=bug["project_id"],
            url=bug_url(bug),
            title=title.format(**bug),
            text=bug["title"],
        )
        for bug in bug_selectors.bug_notices(ids=[bug_id])
    ]


def bug_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created and instance.severity in OPENING_SEVERITIES:
        _tell(lambda: _bug_events(instance.pk, EventKind.BUG_OPENED, "opened", "{key} ({severity}) opened"))


def status_change_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created and instance.to_status == "reopened":
        trigger = str(instance.pk)
        _tell(
            lambda: _bug_events(instance.bug_id, EventKind.REGRESSION_REOPENED, trigger, "{key} reopened: its regression test failed again")
        )


def run_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if instance.status == "error":
        from notifications.services.scan import run_errored_event

        project_id = getattr(instance.suite, "project_id", None)
        run = {
            "pk": instance.pk,
            "suite__name": instance.suite.name,
            "suite__project_id": project_id,
            "error_message": instance.error_message,
        }
        _tell(lambda: [run_errored_event(run)])


def regression_test_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if instance.is_flaky:
        test = {
            "node_id": instance.node_id,
            "flaky_commit": instance.flaky_commit,
            "bug__key": instance.bug.key,
            "bug__project_id": instance.bug.project_id,
        }
        _tell(lambda: [flaky_event(test)])


def comment_mentioned(sender: Any, comment: Any, mentioned: list[Any], **kwargs: Any) -> None:
    """Tell each active user a comment named (already committed: the signal is sent on commit)."""
    from notifications.tasks import event_record_task

    author = comment.author.get_username() if comment.author else "someone"
    bug = comment.bug
    for user in mentioned:
        if user.pk == comment.author_id:
            continue  # naming oneself tells nobody
        event = Event(
            kind=EventKind.MENTION,
            object_key=f"comment:{comment.pk}",
            trigger=f"user:{user.pk}",
            project_id=bug.project_id,
            title=f"{author} mentioned you on {bug.key}",
            text=comment.body[:4000],
            url=f"/admin/bugs/bug/{bug.pk}/change/#bug-timeline",
            user_ids=[user.pk],
        )
        try:
            event_record_task.delay(event.as_dict())
        except Exception:
            logger.exception("Mention of user %s on comment %s not queued", user.pk, comment.pk)


def connect() -> None:
    post_save.connect(bug_saved, sender="bugs.Bug", dispatch_uid="notifications.bug_saved")
    post_save.connect(status_change_saved, sender="bugs.BugStatusChange", dispatch_uid="notifications.status_change_saved")
    post_save.connect(run_saved, sender="bugs.Run", dispatch_uid="notifications.run_saved")
    post_save.connect(regression_test_saved, sender="bugs.RegressionTest", dispatch_uid="notifications.regression_test_saved")
    comment_posted.connect(comment_mentioned, dispatch_uid="notifications.comment_mentioned")
