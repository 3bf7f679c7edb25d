"""The operator assigns a bug and comments with a mention, in a real browser; a real worker then mails the
user mentioned (through the file backend the embedded set-up uses)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from atom.testing import wait_until
from bugs.services.bugs import bug_create
from notifications.models import Delivery, DeliveryStatus, EventKind

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_an_operator_assigns_a_bug_and_mentions_a_colleague(
    transactional_db, browser_page, admin_login, artifact_path, celery_worker_process, django_user_model
):
    colleague = django_user_model.objects.create_user(
        username="ana", email="ana@example.org", password="correct horse battery staple", is_staff=True
    )
    bug = bug_create(title="Budget charged twice under concurrent approvals", severity="P2")
    operator = admin_login(browser_page)
    browser_page.goto(f"/admin/bugs/bug/{bug.pk}/change/")
    browser_page.select_option("#bug-assign select[name=assignee]", str(colleague.pk))
    browser_page.click("#bug-assign button[type=submit]")
    browser_page.wait_for_selector("#bug-assignee:has-text('ana')")

    browser_page.fill("#comment-body", "Reproduced on **main** with two reviewers.\n\n@ana can you take it? <script>alert(1)</script>")
    browser_page.click("#bug-comment button[type=submit]")
    browser_page.wait_for_selector(".messagelist :text('Mentioned: ana.')")
    comment = browser_page.locator("#bug-timeline .timeline-comment").first
    assert "operator wrote" in comment.inner_text()
    assert comment.locator(".comment-body strong").inner_text() == "main"
    assert comment.locator("script").count() == 0
    browser_page.screenshot(path=artifact_path("assign-and-mention.png"), full_page=True)

    wait_until(
        lambda: Delivery.objects.filter(notification__kind=EventKind.MENTION, status=DeliveryStatus.SENT).exists(),
        timeout=60,
        message="the mention mailed by the worker",
    )
    delivery = Delivery.objects.get(notification__kind=EventKind.MENTION)
    assert delivery.target == "ana@example.org"
    assert delivery.user == colleague
    mails = [path.read_text() for path in Path(settings.EMAIL_FILE_PATH).glob("*.log")]
    subject = f"Subject: [Atom] {operator.username} mentioned you on {bug.key}"
    assert any(subject in text and "To: ana@example.org" in text for text in mails)
