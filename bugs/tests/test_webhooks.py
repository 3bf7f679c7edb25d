"""Push webhooks from GitHub, GitLab and Gitea: signed as each provider signs, replays refused, nothing
changed by a delivery Atom does not accept.

The payloads follow the providers' documented examples (GitHub "push" event, GitLab "Push Hook", Gitea
"push"), with their real header names; the expected signatures are computed here with hmac, apart from
the code under test, and GitHub's own published test vector is checked as published.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from bugs.api.project_views import WebhookView
from bugs.models import Bug, WebhookDelivery
from bugs.services.bugs import bug_create
from bugs.services.projects import project_create
from bugs.services.webhooks import _authentic

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-0f-the-tiny-project-hooks"
SHA_1 = "bffeb74224043ba2feb48d137756c8a9331c449a"
SHA_2 = "28e1879d029cb852e4844d9c718537df08844e03"
SHA_3 = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"


@pytest.fixture
def tiny() -> Any:
    project = project_create(slug="tiny", name="Tiny", default_branch="main", webhook_secret=SECRET)
    bug_create(key="BUG-001", title="Crash on empty input", severity="P3", project=project)
    bug_create(key="BUG-002", title="Wrong total", severity="P3", project=project)
    return project


def _commit(sha: str, message: str, timestamp: str) -> dict[str, Any]:
    return {
        "id": sha,
        "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
        "distinct": True,
        "message": message,
        "timestamp": timestamp,
        "url": f"https://github.com/octo-org/tiny/commit/{sha}",
        "author": {"name": "Monalisa Octocat", "email": "mona@github.com", "username": "monalisa"},
        "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
        "added": [],
        "removed": [],
        "modified": ["tiny/core.py"],
    }


def github_push(ref: str = "refs/heads/main", commits: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The shape of GitHub's documented push event (commits oldest first, head_commit the last)."""
    commits = commits if commits is not None else [_commit(SHA_2, "Refactor the parser", "2026-11-29T10:00:00Z")]
    return {
        "ref": ref,
        "before": "0000000000000000000000000000000000000000" if not commits else SHA_3,
        "after": commits[-1]["id"] if commits else SHA_3,
        "repository": {"id": 1296269, "name": "tiny", "full_name": "octo-org/tiny", "private": False, "default_branch": "main"},
        "pusher": {"name": "monalisa", "email": "mona@github.com"},
        "sender": {"login": "monalisa", "id": 1, "type": "User"},
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": "https://github.com/octo-org/tiny/compare/b6568db1bc1d...bffeb7422404",
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
    }


def gitlab_push(ref: str = "refs/heads/main", commits: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The shape of GitLab's documented Push Hook."""
    commits = commits or []
    return {
        "object_kind": "push",
        "event_name": "push",
        "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
        "after": commits[-1]["id"] if commits else "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "ref": ref,
        "ref_protected": True,
        "checkout_sha": commits[-1]["id"] if commits else "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "user_id": 4,
        "user_name": "John Smith",
        "user_username": "jsmith",
        "user_email": "john@example.com",
        "project_id": 15,
        "project": {"id": 15, "name": "Tiny", "path_with_namespace": "mike/tiny", "default_branch": "main"},
        "repository": {"name": "Tiny", "url": "git@example.com:mike/tiny.git", "homepage": "http://example.com/mike/tiny"},
        "commits": [
            {
                "id": c["id"],
                "message": c["message"],
                "title": c["message"].splitlines()[0],
                "timestamp": c["timestamp"],
                "url": f"http://example.com/mike/tiny/commit/{c['id']}",
                "author": {"name": "Jordi Mallach", "email": "jordi@softcatala.org"},
                "added": ["CHANGELOG"],
                "modified": ["app/controller/application.rb"],
                "removed": [],
            }
            for c in commits
        ],
        "total_commits_count": len(commits),
    }


def gitea_push(ref: str = "refs/heads/main", commits: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The shape of Gitea's documented push event."""
    commits = commits or []
    return {
        "ref": ref,
        "before": SHA_2,
        "after": commits[-1]["id"] if commits else SHA_1,
        "compare_url": f"http://localhost:3000/gitea/tiny/compare/{SHA_2}...{SHA_1}",
        "commits": [
            {
                "id": c["id"],
                "message": c["message"],
                "url": f"http://localhost:3000/gitea/tiny/commit/{c['id']}",
                "author": {"name": "Gitea", "email": "someone@gitea.io", "username": "gitea"},
                "committer": {"name": "Gitea", "email": "someone@gitea.io", "username": "gitea"},
                "timestamp": c["timestamp"],
            }
            for c in commits
        ],
        "repository": {"id": 140, "name": "tiny", "full_name": "gitea/tiny", "default_branch": "main"},
        "pusher": {"id": 1, "login": "gitea", "email": "someone@gitea.io"},
        "sender": {"id": 1, "login": "gitea"},
    }


def _sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers_for(provider: str, body: bytes, *, delivery: str, event: str | None = None, secret: str = SECRET) -> dict[str, str]:
    """The headers each provider sends, as Django test-client META keys."""
    if provider == "github":
        return {
            "HTTP_X_GITHUB_EVENT": event or "push",
            "HTTP_X_GITHUB_DELIVERY": delivery,
            "HTTP_X_GITHUB_HOOK_ID": "292430182",
            "HTTP_X_HUB_SIGNATURE_256": "sha256=" + _sign(body, secret),
            "HTTP_USER_AGENT": "GitHub-Hookshot/044aadd",
        }
    if provider == "gitea":
        return {
            "HTTP_X_GITEA_EVENT": event or "push",
            "HTTP_X_GITEA_DELIVERY": delivery,
            "HTTP_X_GITEA_SIGNATURE": _sign(body, secret),
            "HTTP_X_GITHUB_EVENT": event or "push",
            "HTTP_X_GITHUB_DELIVERY": delivery,
        }
    return {
        "HTTP_X_GITLAB_EVENT": event or "Push Hook",
        "HTTP_X_GITLAB_TOKEN": secret,
        "HTTP_X_GITLAB_EVENT_UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
        "HTTP_IDEMPOTENCY_KEY": delivery,
        "HTTP_X_GITLAB_INSTANCE": "https://gitlab.example.com",
        "HTTP_USER_AGENT": "GitLab/17.5.0",
    }


PAYLOADS = {"github": github_push, "gitlab": gitlab_push, "gitea": gitea_push}


def deliver(client: Any, provider: str, document: Any, *, slug: str = "tiny", delivery: str = "d-1", **options: Any) -> Any:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    headers = headers_for(provider, body, delivery=delivery, event=options.pop("event", None), secret=options.pop("secret", SECRET))
    headers.update(options.pop("headers", {}))
    content_type = options.pop("content_type", "application/json")
    return client.post(f"/api/v1/projects/{slug}/webhooks/{provider}/", data=body, content_type=content_type, **headers)


def _state() -> list[tuple[Any, ...]]:
    return [
        *Bug.objects.order_by("key").values_list("key", "status", "fix_commit"),
        *WebhookDelivery.objects.order_by("pk").values_list("provider", "delivery_id", "outcome"),
    ]


# --- the signatures, checked against the providers' own rules --------------------------------------------


def test_githubs_published_signature_vector_is_accepted():
    """docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody", payload
    "Hello, World!" → sha256=757107ea…3e17."""
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert _authentic("github", "It's a Secret to Everybody", signature, b"Hello, World!")
    assert _authentic("gitea", "It's a Secret to Everybody", signature.removeprefix("sha256="), b"Hello, World!")
    assert not _authentic("github", "It's a Secret to Everybody", signature, b"Hello, World?")
    assert not _authentic("github", "It's a Secret to Everybody", signature.removeprefix("sha256="), b"Hello, World!")
    assert not _authentic("github", "", signature, b"Hello, World!")


def test_a_gitlab_token_is_compared_whole(monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("bugs.services.webhooks.hmac.compare_digest", compare)
    assert _authentic("gitlab", SECRET, SECRET, b"{}")
    assert compared, "GitLab's token is compared in constant time"
    for wrong in (SECRET[:-1], SECRET + "x", SECRET.upper(), "", " " + SECRET):
        assert not _authentic("gitlab", SECRET, wrong, b"{}")


# --- a push to the default branch links its commits without polling ------------------------------------------


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_signed_push_to_the_default_branch_links_its_commits(client, tiny, provider):
    commits = [
        _commit(SHA_3, "Add tests for empty input", "2026-11-29T09:00:00+01:00"),
        _commit(SHA_2, "Guard the parser against empty input\n\nFixes BUG-001", "2026-11-29T10:00:00+01:00"),
        _commit(SHA_1, "Resolves: BUG-002 and BUG-404", "2026-11-29T11:00:00+01:00"),
    ]
    document = PAYLOADS[provider](commits=commits)
    response = deliver(client, provider, document, delivery=f"{provider}-72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["commits"], body["fixed"], body["unknown"]) == ("linked", 3, ["BUG-001", "BUG-002"], ["BUG-404"])
    assert dict(Bug.objects.values_list("key", "fix_commit")) == {"BUG-001": SHA_2, "BUG-002": SHA_1}
    assert set(Bug.objects.values_list("status", flat=True)) == {"fixed"}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.provider, delivery.delivery_id, delivery.ref) == (
        provider,
        f"{provider}-72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "refs/heads/main",
    )
    assert delivery.outcome.startswith("linked")


def test_the_newest_pushed_commit_naming_a_bug_is_its_fix_whatever_the_list_order(client, tiny):
    older = _commit(SHA_3, "Fixes BUG-001 (first try)", "2026-11-29T08:00:00Z")
    newer = _commit(SHA_2, "Fixes BUG-001 for real", "2026-11-29T09:30:00+01:00")  # 08:30Z: newer
    for delivery, commits in (("a", [older, newer]), ("b", [newer, older])):
        Bug.objects.filter(key="BUG-001").update(status="open", fix_commit="")
        assert deliver(client, "gitea", gitea_push(commits=commits), delivery=delivery).status_code == 200
        assert Bug.objects.get(key="BUG-001").fix_commit == SHA_2


def test_a_key_of_another_project_is_named_and_changes_nothing(client, tiny):
    other = project_create(slug="other", name="Other")
    bug_create(key="BUG-003", title="Theirs", severity="P3", project=other)
    response = deliver(client, "github", github_push(commits=[_commit(SHA_1, "Fixes BUG-003", "2026-11-29T10:00:00Z")]))
    assert response.status_code == 200
    assert response.json()["fixed"] == []
    assert any("BUG-003" in w and "'other'" in w for w in response.json()["warnings"])
    assert Bug.objects.get(key="BUG-003").status == "open"


def test_emoji_and_escaped_text_in_messages(client, tiny):
    commits = [
        _commit(SHA_1, "🐛 Fixes BUG-001 ✅ — naïve café", "2026-11-29T10:00:00Z"),
        _commit(SHA_2, "Closes BUG-002 \U0001f680\u200d", "2026-11-29T11:00:00Z"),
    ]
    raw = json.dumps(github_push(commits=commits), ensure_ascii=False).encode("utf-8")
    assert deliver(client, "github", raw, delivery="raw-utf8").json()["fixed"] == ["BUG-001", "BUG-002"]
    Bug.objects.update(status="open", fix_commit="")
    escaped = json.dumps(github_push(commits=commits), ensure_ascii=True).encode()
    assert deliver(client, "github", escaped, delivery="escaped").json()["fixed"] == ["BUG-001", "BUG-002"]


def test_a_push_of_many_commits_links_each_bug_once(client, tiny):
    project = tiny
    for number in range(3, 53):
        bug_create(key=f"BUG-{number:03d}", title=f"Defect {number}", severity="P3", project=project)
    commits = [
        _commit(
            f"{index:040x}",
            f"Fixes BUG-{index % 50 + 3:03d}" if index % 4 == 0 else f"Chore {index}",
            f"2026-11-29T{index // 60:02d}:{index % 60:02d}:00Z",
        )
        for index in range(1, 1001)
    ]
    response = deliver(client, "gitlab", gitlab_push(commits=commits))
    assert response.status_code == 200, response.content
    assert response.json()["commits"] == 1000
    newest: dict[str, str] = {}
    for index in range(1000, 0, -1):
        if index % 4 == 0:
            newest.setdefault(f"BUG-{index % 50 + 3:03d}", f"{index:040x}")
    assert dict(Bug.objects.filter(key__in=newest).values_list("key", "fix_commit")) == newest


def test_a_github_form_encoded_delivery_is_read_from_its_payload_field(client, tiny):
    document = github_push(commits=[_commit(SHA_1, "Fixes BUG-001", "2026-11-29T10:00:00Z")])
    body = urlencode({"payload": json.dumps(document)}).encode()
    response = deliver(client, "github", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.content
    assert response.json()["fixed"] == ["BUG-001"]


def test_a_json_body_with_a_byte_order_mark_is_read_too(client, tiny):
    body = b"\xef\xbb\xbf" + json.dumps(github_push(commits=[_commit(SHA_1, "Fixes BUG-001", "2026-11-29T10:00:00Z")])).encode()
    assert deliver(client, "github", body).json()["fixed"] == ["BUG-001"]


# --- accepted, recorded, but nothing to link -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "ref", "event"),
    [
        ("github", "refs/heads/feature/x", None),
        ("github", "refs/tags/v1.0.0", None),
        ("github", "refs/heads/main-old", None),
        ("gitlab", "refs/heads/develop", None),
        ("gitea", "refs/heads/develop", None),
        ("github", "refs/heads/main", "ping"),
        ("gitlab", "refs/heads/main", "Tag Push Hook"),
        ("gitea", "refs/heads/main", "create"),
    ],
)
def test_other_refs_and_events_are_accepted_and_ignored_with_a_reason(client, tiny, provider, ref, event):
    document = PAYLOADS[provider](ref=ref, commits=[_commit(SHA_1, "Fixes BUG-001", "2026-11-29T10:00:00Z")])
    response = deliver(client, provider, document, event=event)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ignored"
    assert body["reason"]
    assert Bug.objects.get(key="BUG-001").status == "open"
    assert WebhookDelivery.objects.get().outcome.startswith("ignored")


# --- refused: nothing changes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_bad_signature_is_401_and_changes_nothing(client, tiny, provider):
    document = PAYLOADS[provider](commits=[_commit(SHA_1, "Fixes BUG-001", "2026-11-29T10:00:00Z")])
    before = _state()
    wrong = deliver(client, provider, document, secret="not-the-secret-of-this-project")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "WEBHOOK_UNAUTHENTICATED"
    body = json.dumps(document).encode()
    signed_for_other = headers_for(provider, body, delivery="d-2")
    if provider != "gitlab":  # GitLab sends its token, not a signature of the body: there is no body to tamper with
        tampered = body.replace(b"BUG-001", b"BUG-002")
        url = f"/api/v1/projects/tiny/webhooks/{provider}/"
        assert client.post(url, data=tampered, content_type="application/json", **signed_for_other).status_code == 401
    unsigned = {k: v for k, v in signed_for_other.items() if "SIGNATURE" not in k and "TOKEN" not in k}
    response = client.post(f"/api/v1/projects/tiny/webhooks/{provider}/", data=body, content_type="application/json", **unsigned)
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert _state() == before


def test_a_signature_of_the_wrong_shape_is_401(client, tiny):
    body = json.dumps(github_push()).encode()
    for header in ("sha1=" + _sign(body), _sign(body), "sha256=" + _sign(body)[:-2], "sha256=" + "z" * 64, "sha256=" + _sign(body) + "00"):
        response = client.post(
            "/api/v1/projects/tiny/webhooks/github/",
            data=body,
            content_type="application/json",
            HTTP_X_GITHUB_EVENT="push",
            HTTP_X_GITHUB_DELIVERY="x",
            HTTP_X_HUB_SIGNATURE_256=header,
        )
        assert response.status_code == 401, header
    assert WebhookDelivery.objects.count() == 0


def test_an_unknown_project_or_provider_is_404_and_changes_nothing(client, tiny):
    before = _state()
    response = deliver(client, "github", github_push(), slug="nowhere")
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "details"}
    body = json.dumps(github_push()).encode()
    response = client.post("/api/v1/projects/tiny/webhooks/bitbucket/", data=body, content_type="application/json")
    assert response.status_code == 404
    assert _state() == before


def test_a_project_without_a_secret_refuses_every_delivery(client, tiny):
    project_create(slug="open", name="Open")
    response = deliver(client, "github", github_push(), slug="open", secret="")
    assert response.status_code == 401
    response = deliver(client, "gitlab", gitlab_push(), slug="open", secret="")
    assert response.status_code == 401
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_replayed_delivery_is_409_and_changes_nothing(client, tiny, provider):
    first = deliver(
        client, provider, PAYLOADS[provider](commits=[_commit(SHA_1, "Fixes BUG-001", "2026-11-29T10:00:00Z")]), delivery="once"
    )
    assert first.status_code == 200
    before = _state()
    # The same delivery id with another (validly signed) body: still the same delivery, refused.
    replay = deliver(
        client, provider, PAYLOADS[provider](commits=[_commit(SHA_2, "Fixes BUG-002", "2026-11-29T11:00:00Z")]), delivery="once"
    )
    assert replay.status_code == 409
    assert replay.json()["error"]["code"] == "WEBHOOK_REPLAY"
    assert _state() == before
    assert Bug.objects.get(key="BUG-002").status == "open"


def test_the_same_delivery_id_of_another_provider_or_project_is_not_a_replay(client, tiny):
    project_create(slug="other", name="Other", webhook_secret=SECRET)
    assert deliver(client, "github", github_push(), delivery="same").status_code == 200
    assert deliver(client, "gitea", gitea_push(), delivery="same").status_code == 200
    assert deliver(client, "github", github_push(), delivery="same", slug="other").status_code == 200
    assert WebhookDelivery.objects.count() == 3


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"ref": "refs/heads/main", "commits": "many"}',
        b'{"ref": "refs/heads/main", "commits": [{"id": "x"}]}',
        b"\xff\xfe{}",
    ],
)
def test_a_signed_body_that_is_no_push_payload_is_400_and_writes_nothing(client, tiny, body):
    response = deliver(client, "github", body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "WEBHOOK_MALFORMED"
    assert WebhookDelivery.objects.count() == 0


def test_a_delivery_without_its_id_header_is_400(client, tiny):
    response = deliver(client, "github", github_push(), delivery="")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "WEBHOOK_DELIVERY_ID_MISSING"
    response = deliver(client, "github", github_push(), delivery="../../etc/passwd")
    assert response.status_code == 400
    assert WebhookDelivery.objects.count() == 0


def test_a_body_over_the_limit_is_413_before_it_is_read(client, tiny, monkeypatch):
    monkeypatch.setattr(WebhookView, "max_body_bytes", 2048)
    commits = [_commit(f"{i:040x}", "Fixes BUG-001", "2026-11-29T10:00:00Z") for i in range(1, 40)]
    response = deliver(client, "github", github_push(commits=commits))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert WebhookDelivery.objects.count() == 0
    assert Bug.objects.get(key="BUG-001").status == "open"


def test_the_route_needs_no_token_and_ignores_one(client, tiny, superuser):
    from atom.testing import access_token_for

    response = deliver(
        client,
        "github",
        github_push(),
        headers={"HTTP_AUTHORIZATION": f"Bearer {access_token_for(superuser)}"},
        secret="wrong-secret-of-16-chars",
    )
    assert response.status_code == 401, "a user's token never stands in for the project's secret"
