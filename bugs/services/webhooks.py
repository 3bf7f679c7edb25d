"""Push webhooks from GitHub, GitLab and Gitea: authenticate as the provider does, refuse replays, link.

Order matters: the body is raw bytes until its signature (or GitLab's token) is checked against the
project's secret; only then is it parsed. A bad signature, an unknown project or a replayed delivery
changes nothing: no delivery row, no bug. A push to the project's default branch links the pushed
commits' ``Fixes BUG-N`` messages at once; any other event or ref is recorded as ignored.

How each provider signs (their documentation):
- GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``, delivery ``X-GitHub-Delivery``,
  event ``X-GitHub-Event: push``. A hook may send ``application/x-www-form-urlencoded`` with the JSON
  in the ``payload`` field; the signature covers the body as sent.
- Gitea: ``X-Gitea-Signature: <hex HMAC-SHA256 of the body>``, ``X-Gitea-Delivery``, ``X-Gitea-Event: push``.
- GitLab: ``X-Gitlab-Token: <the secret>`` (no signature), compared in constant time; the delivery is
  ``Idempotency-Key`` (the same across GitLab's retries) or else ``X-Gitlab-Event-UUID``; event
  ``X-Gitlab-Event: Push Hook``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from django.db import IntegrityError, transaction

from atom.errors import ConflictError, DomainError, NotFoundError
from bugs import git
from bugs.models import Project, WebhookDelivery, WebhookProvider
from bugs.services.commits import commit_messages_link

_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_SHA = re.compile(r"^[0-9a-fA-F]{40,64}$")


class WebhookUnauthenticated(DomainError):
    status_code = 401
    code = "WEBHOOK_UNAUTHENTICATED"


@dataclass
class WebhookOutcome:
    """What a delivery did: ``linked`` (a push to the default branch) or ``ignored`` with the reason."""

    status: str
    delivery_id: str
    event: str
    ref: str = ""
    reason: str = ""
    commits: int = 0
    fixed: list[str] = field(default_factory=list)
    commit_set: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Headers:
    signature: str
    delivery: str
    event: str


def _headers(provider: str, headers: Mapping[str, str]) -> _Headers:
    if provider == WebhookProvider.GITHUB:
        return _Headers(headers.get("X-Hub-Signature-256", ""), headers.get("X-GitHub-Delivery", ""), headers.get("X-GitHub-Event", ""))
    if provider == WebhookProvider.GITEA:
        return _Headers(headers.get("X-Gitea-Signature", ""), headers.get("X-Gitea-Delivery", ""), headers.get("X-Gitea-Event", ""))
    delivery = headers.get("Idempotency-Key", "") or headers.get("X-Gitlab-Event-UUID", "")
    return _Headers(headers.get("X-Gitlab-Token", ""), delivery, headers.get("X-Gitlab-Event", ""))


def _authentic(provider: str, secret: str, signature: str, body: bytes) -> bool:
    """Whether the delivery carries the project's secret, checked the provider's way in constant time."""
    if not secret or not signature:
        return False
    if provider == WebhookProvider.GITLAB:
        return hmac.compare_digest(signature.encode("utf-8", "surrogateescape"), secret.encode())
    if provider == WebhookProvider.GITHUB:
        if not signature.startswith("sha256="):
            return False
        signature = signature.removeprefix("sha256=")
    if not _HEX.match(signature):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature.lower(), expected)


def _payload(body: bytes, content_type: str) -> dict[str, Any]:
    """The JSON document of the delivery (the body, or the ``payload`` field of a form-encoded one)."""
    try:
        text = body.decode("utf-8-sig")
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            fields = parse_qs(text, strict_parsing=True, max_num_fields=10)
            if len(fields.get("payload", [])) != 1:
                raise ValueError("a form-encoded delivery carries exactly one 'payload' field")
            text = fields["payload"][0]
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DomainError(f"The delivery is not a JSON push payload: {str(exc)[:200]}", code="WEBHOOK_MALFORMED") from exc
    if not isinstance(document, dict):
        raise DomainError("The delivery is not a JSON object.", code="WEBHOOK_MALFORMED")
    return document


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _pushed_commits(document: dict[str, Any]) -> list[git.Commit]:
    """The pushed commits, newest first. The three providers list them oldest first; their timestamps
    (which all three send) decide when they are all readable, so the order of the list never matters."""
    rows = document.get("commits")
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise DomainError("The push payload's 'commits' is not a list of commits.", code="WEBHOOK_MALFORMED")
    commits: list[tuple[datetime | None, int, git.Commit]] = []
    for index, row in enumerate(rows):
        sha, message = row.get("id"), row.get("message")
        if not isinstance(sha, str) or not _SHA.match(sha) or not isinstance(message, str):
            raise DomainError("A pushed commit has no valid 'id' and 'message'.", code="WEBHOOK_MALFORMED")
        commits.append((_timestamp(row.get("timestamp")), index, git.Commit(sha=git.sha_normalize(sha), message=message)))
    if all(when is not None for when, _, _ in commits):
        commits.sort(key=lambda item: (item[0], item[1]), reverse=True)
    else:
        commits.reverse()
    return [commit for _, _, commit in commits]


def _is_push(provider: str, event: str) -> bool:
    return event == ("Push Hook" if provider == WebhookProvider.GITLAB else "push")


def webhook_receive(*, slug: str, provider: str, headers: Mapping[str, str], body: bytes, content_type: str = "") -> WebhookOutcome:
    """Authenticate, de-duplicate and act on one delivery. Raises NotFoundError (404), WebhookUnauthenticated
    (401), ConflictError (409, a replay) or DomainError (400), each before anything is written."""
    if provider not in WebhookProvider.values:
        raise NotFoundError(f"No webhook route for {provider[:40]!r}: use github, gitlab or gitea.")
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise NotFoundError("No such project.")
    sent = _headers(provider, headers)
    if not project.webhook_secret:
        raise WebhookUnauthenticated("This project accepts no webhooks: it has no webhook secret.")
    if not _authentic(provider, project.webhook_secret, sent.signature.strip(), body):
        raise WebhookUnauthenticated("The webhook signature does not match the project's secret.")
    if not _DELIVERY_ID.match(sent.delivery):
        raise DomainError("The delivery carries no valid delivery id header.", code="WEBHOOK_DELIVERY_ID_MISSING")
    if WebhookDelivery.objects.filter(project=project, provider=provider, delivery_id=sent.delivery).exists():
        raise ConflictError(f"Delivery {sent.delivery} was already received.", code="WEBHOOK_REPLAY")
    document = _payload(body, content_type)
    outcome = WebhookOutcome(status="ignored", delivery_id=sent.delivery, event=sent.event[:64])
    ref = document.get("ref")
    outcome.ref = ref[:300] if isinstance(ref, str) else ""
    wanted = f"refs/heads/{project.default_branch}"
    try:
        with transaction.atomic():
            if not _is_push(provider, sent.event):
                outcome.reason = f"Not a push event ({sent.event[:64] or 'none'}): nothing to link."
            elif outcome.ref != wanted:
                outcome.reason = f"A push to {outcome.ref or 'no ref'}, not to {wanted}: nothing to link."
            else:
                commits = _pushed_commits(document)
                summary = commit_messages_link(commits=commits, project=project)
                outcome.status, outcome.commits = "linked", len(commits)
                outcome.fixed, outcome.commit_set, outcome.unknown, outcome.warnings = (
                    summary.fixed,
                    summary.commit_set,
                    summary.unknown,
                    summary.warnings,
                )
                outcome.reason = (
                    f"{len(commits)} commit(s) read: {len(summary.fixed)} bug(s) fixed, {len(summary.commit_set)} fix commit(s) set."
                )
            WebhookDelivery.objects.create(
                project=project,
                provider=provider,
                delivery_id=sent.delivery,
                event=outcome.event,
                ref=outcome.ref,
                outcome=f"{outcome.status}: {outcome.reason}"[:500],
            )
    except IntegrityError as exc:  # the same delivery, received twice at once: the second one changes nothing
        raise ConflictError(f"Delivery {sent.delivery} was already received.", code="WEBHOOK_REPLAY") from exc
    return outcome
