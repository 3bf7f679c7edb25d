"""Races on PostgreSQL with real threads and connections: one push delivered many times at once."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from atom.errors import ConflictError
from bugs.models import Bug, BugStatusChange, WebhookDelivery
from bugs.services.bugs import bug_create
from bugs.services.projects import project_create
from bugs.services.webhooks import webhook_receive
from bugs.tests.test_webhooks import SECRET, SHA_1, _commit, _sign, github_push

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 12


def test_one_delivery_sent_twelve_times_at_once_is_accepted_once():
    project = project_create(slug="tiny", name="Tiny", webhook_secret=SECRET)
    bug_create(key="BUG-001", title="Crash", severity="P3", project=project)
    body = json.dumps(github_push(commits=[_commit(SHA_1, "Fixes BUG-001", "2026-11-29T10:00:00Z")])).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": "sha256=" + _sign(body),
    }
    barrier = threading.Barrier(WORKERS)

    def deliver(_: int) -> Any:
        try:
            barrier.wait(timeout=30)
            return webhook_receive(slug="tiny", provider="github", headers=headers, body=body, content_type="application/json")
        except Exception as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(deliver, range(WORKERS)))
    accepted = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert len(accepted) == 1, results
    assert len(refused) == WORKERS - 1, [r for r in results if isinstance(r, Exception) and not isinstance(r, ConflictError)]
    assert WebhookDelivery.objects.count() == 1
    assert Bug.objects.get(key="BUG-001").fix_commit == SHA_1
    assert BugStatusChange.objects.filter(bug__key="BUG-001", to_status="fixed").count() == 1
