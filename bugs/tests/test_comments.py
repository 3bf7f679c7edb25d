"""Comments on bugs: Markdown rendered on the server then sanitized, @mentions of active users only, shown
in the bug page's timeline, posted from the page or the API, each under bugs.add_comment."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission

from atom.testing import api_client_for
from bugs.models import Bug, Comment
from bugs.services.bugs import bug_create
from bugs.services.comments import comment_create, comment_mentions

pytestmark = pytest.mark.django_db

HOSTILE = (
    "**bold** <script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) "
    '<a href="https://example.org" onclick="x()">a</a> ![i](data:text/html;base64,PHNjcmlwdD4=)'
)


class Elements(HTMLParser):
    """The elements and attributes a browser would build from the HTML (escaped text is no element)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))


@pytest.fixture
def bug() -> Bug:
    return bug_create(title="Budget charged twice", severity="P2")


def test_markdown_is_rendered_and_nothing_active_survives(bug, staff_user):
    comment = comment_create(bug=bug, author=staff_user, body=HOSTILE)
    assert "<strong>bold</strong>" in comment.html
    elements = Elements(comment.html).found
    assert {tag for tag, _ in elements} <= {"p", "strong", "a"}
    for _, attrs in elements:
        assert all(not name.startswith("on") for name, _ in attrs)
        assert all(not (value or "").lower().startswith(("javascript:", "data:")) for _, value in attrs)
    assert comment.body == HOSTILE  # the source is kept as written


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("@ana look", ["ana"]),
        ("cc @ana, @bo.", ["ana", "bo"]),
        ("mail ana@example.org", []),
        ("@ana and @ana again", ["ana"]),
        ("(@first.last)", ["first.last"]),
    ],
)
def test_mentions_are_read_like_usernames(body, names):
    assert comment_mentions(body) == names


def test_only_existing_active_users_are_mentioned(bug, staff_user, django_user_model):
    django_user_model.objects.create_user(username="ana", password="x" * 12)
    django_user_model.objects.create_user(username="gone", password="x" * 12, is_active=False)
    comment = comment_create(bug=bug, author=staff_user, body="@ana @gone @ghost")
    assert comment.mentions == ["ana"]


@pytest.mark.parametrize("body", ["", "   \n ", "a\x00b", "x" * 20_001])
def test_a_bad_comment_is_refused_through_the_api_with_the_error_shape(bug, staff_user, body):
    response = api_client_for(staff_user).post(f"/api/v1/bugs/{bug.key}/comments/", {"body": body}, format="json")
    assert response.status_code == 400
    assert "error" in response.json()
    assert not Comment.objects.exists()


def test_the_api_posts_and_lists_comments(bug, staff_user):
    client = api_client_for(staff_user)
    created = client.post(f"/api/v1/bugs/{bug.key}/comments/", {"body": "First *look*: @operator"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["html"] == "<p>First <em>look</em>: @operator</p>\n"
    assert created.json()["mentions"] == ["operator"]
    client.post(f"/api/v1/bugs/{bug.key}/comments/", {"body": "Second"}, format="json")
    listed = client.get(f"/api/v1/bugs/{bug.key}/comments/").json()
    assert [row["body"] for row in listed["results"]] == ["Second", "First *look*: @operator"]
    assert client.get("/api/v1/bugs/BUG-999999/comments/").status_code == 404


def test_commenting_needs_its_own_permission(bug, client, django_user_model):
    viewer = django_user_model.objects.create_user(username="viewer", password="correct horse battery staple", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_bug", "change_bug"]))
    assert api_client_for(viewer).post(f"/api/v1/bugs/{bug.key}/comments/", {"body": "hi"}, format="json").status_code == 403
    assert api_client_for(viewer).get(f"/api/v1/bugs/{bug.key}/comments/").status_code == 200
    client.force_login(viewer)
    assert 'id="bug-comment"' not in client.get(f"/admin/bugs/bug/{bug.pk}/change/").content.decode()
    assert client.post(f"/admin/bugs/bug/{bug.pk}/comment/", {"body": "hi"}).status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="add_comment"))
    assert client.post(f"/admin/bugs/bug/{bug.pk}/comment/", {"body": "hi"}).status_code == 302
    assert Comment.objects.get().author == viewer


def test_the_page_shows_comments_in_the_timeline(admin_client, bug, staff_user):
    admin_client.post(f"/admin/bugs/bug/{bug.pk}/comment/", {"body": "Seen on **CI**, @operator <b onmouseover=x>"})
    page = admin_client.get(f"/admin/bugs/bug/{bug.pk}/change/").content.decode()
    timeline = page.split('id="bug-timeline"', 1)[1]
    assert "<strong>CI</strong>" in timeline
    assert "<b onmouseover" not in timeline
    assert "&lt;b onmouseover=x&gt;" in timeline  # shown as the text it was
    assert "Mentioned: operator." in page


def test_the_bug_page_costs_the_same_queries_for_few_and_many_comments(admin_client, staff_user, django_user_model):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for comments in (1, 80):
        bug = bug_create(title=f"Page with {comments} comments", severity="P2")
        authors = [django_user_model.objects.create_user(username=f"author-{comments}-{n}", password="x" * 12) for n in range(3)]
        Comment.objects.bulk_create(
            Comment(bug=bug, author=authors[n % 3], body=f"note {n}", html=f"<p>note {n}</p>") for n in range(comments)
        )
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(f"/admin/bugs/bug/{bug.pk}/change/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] == 7  # no linked test: no strip query


def test_no_hostile_payload_leaves_active_markup_in_a_comments_html(bug, staff_user):
    from atom.errors import DomainError
    from tests.security.payloads import RawJSON, corpus
    from tests.security.test_hostile_payloads import DANGEROUS_MARKUP

    stored = 0
    for payload_id, payload in corpus():
        if isinstance(payload, RawJSON) or not isinstance(payload, str):
            continue
        try:
            comment = comment_create(bug=bug, author=staff_user, body=payload)
        except DomainError:
            continue
        stored += 1
        assert not DANGEROUS_MARKUP.search(comment.html), (payload_id, comment.html[:300])
    assert stored >= 100
