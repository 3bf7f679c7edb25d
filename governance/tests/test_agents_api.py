"""The agents API: owners see only their own agents; the governed fields are never writable."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import connection

from governance.models import Agent, Maturity
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def test_a_new_agent_starts_as_a_student_at_the_configured_confidence(client_for, user):
    response = client_for(user).post("/api/v1/agents/", {"name": "helper", "maturity": "AUTONOMOUS", "budget": "999"}, format="json")
    assert response.status_code == 201
    agent = Agent.objects.get()
    assert (agent.maturity, agent.confidence, agent.budget, agent.owner_id) == (Maturity.STUDENT, Decimal("0.4000"), Decimal("0"), user.pk)


def test_the_list_shows_only_the_callers_agents(client_for, user, other_user):
    mine = make_agent(owner=user)
    make_agent(owner=other_user)
    response = client_for(user).get("/api/v1/agents/")
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


def test_another_owners_agent_answers_404(client_for, other_user):
    agent = make_agent()
    client = client_for(other_user)
    assert client.get(f"/api/v1/agents/{agent.pk}/").status_code == 404
    assert client.patch(f"/api/v1/agents/{agent.pk}/", {"name": "mine"}, format="json").status_code == 404
    assert client.post(f"/api/v1/agents/{agent.pk}/feedback/", {"positive": True}, format="json").status_code == 404


@pytest.mark.parametrize(
    "field",
    [
        {"maturity": "AUTONOMOUS"},
        {"confidence": "0.99"},
        {"owner": 999},
        {"budget": "1000000"},
        {"state": "active"},
        {"daily_spend_cap": "1e6"},
    ],
)
def test_governed_fields_cannot_be_written(field, client_for):
    agent = make_agent(state="paused")
    governed = ["maturity", "confidence", "owner_id", "budget", "state", "daily_spend_cap"]
    before = Agent.objects.filter(pk=agent.pk).values(*governed).get()
    response = client_for(agent.owner).patch(f"/api/v1/agents/{agent.pk}/", field, format="json")
    assert response.status_code == 200
    assert Agent.objects.filter(pk=agent.pk).values(*governed).get() == before


def test_safe_fields_can_be_changed(client_for):
    agent = make_agent()
    response = client_for(agent.owner).patch(f"/api/v1/agents/{agent.pk}/", {"name": "renamed", "capabilities": ["x"]}, format="json")
    assert (response.json()["name"], response.json()["capabilities"]) == ("renamed", ["x"])


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x" * 201}, {"name": "a\x00b"}, {"name": 5, "capabilities": "nope"}])
def test_bad_agent_input_is_a_validation_error(body, client_for, user):
    assert client_for(user).post("/api/v1/agents/", body, format="json").status_code == 400
    assert not Agent.objects.exists()


def test_deleting_is_not_a_route(client_for):
    agent = make_agent()
    assert client_for(agent.owner).delete(f"/api/v1/agents/{agent.pk}/").status_code == 405


def test_the_agent_list_costs_a_fixed_number_of_queries(client_for, user, django_assert_num_queries):
    for _ in range(5):
        make_agent(owner=user)
    client = client_for(user)
    # user, count, page
    with django_assert_num_queries(3):
        assert client.get("/api/v1/agents/").status_code == 200
    for _ in range(20):
        make_agent(owner=user)
    with django_assert_num_queries(3):
        client.get("/api/v1/agents/")


def test_the_action_route_costs_a_fixed_number_of_queries(client_for, django_assert_num_queries):
    agent = make_agent()
    client = client_for(agent.owner)
    client.post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read", "cost": "1.00"}, format="json")
    # user, agent + action map version, then the charge with its execution and audit rows: one statement
    # on PostgreSQL (atom.guarded), three in one transaction on SQLite
    with django_assert_num_queries(3 if connection.vendor == "postgresql" else 5):
        assert client.post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read", "cost": "1.00"}, format="json").status_code == 200


def _nested(depth):
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.regression("BUG-012")
@pytest.mark.parametrize(
    "params",
    [{"a": "nul\x00byte"}, {"nul\x00key": 1}, {"deep": _nested(25)}, {"big": "x" * 70_000}, ["not", "an", "object"]],
)
def test_hostile_action_params_are_a_validation_error_and_store_nothing(params, client_for):
    from governance.models import ActionExecution, AuditEntry

    agent = make_agent()
    response = client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/actions/", {"action": "read", "params": params}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert not ActionExecution.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_canvas_cannot_be_created_for_another_owners_agent(client_for, other_user):
    from governance.models import Canvas

    agent = make_agent()
    response = client_for(other_user).post("/api/v1/canvases/", {"agent": agent.pk, "kind": "markdown", "content": "x"}, format="json")
    assert response.status_code == 404
    assert not Canvas.objects.exists()


@pytest.mark.regression("BUG-015")
@pytest.mark.parametrize(
    "path", ["/api/v1/agents/", "/api/v1/agents/{id}/", "/api/v1/agents/{id}/actions/", "/api/v1/canvases/", "/api/v1/proposals/1/approve/"]
)
def test_options_never_answers_500(path, client_for):
    agent = make_agent()
    response = client_for(agent.owner).options(path.format(id=agent.pk))
    assert response.status_code in (200, 405)


@pytest.mark.regression("BUG-014")
@pytest.mark.parametrize("agent_id", ["9223372036854775808", "3298155756605586144231424"])
def test_an_agent_id_beyond_64_bits_is_simply_not_found(agent_id, client_for, user):
    from atom.errors import NotFoundError
    from governance.services.actions import agent_access_authorize

    assert client_for(user).post(f"/api/v1/agents/{agent_id}/actions/", {"action": "read"}, format="json").status_code == 404
    with pytest.raises(NotFoundError):
        agent_access_authorize(actor=user, agent_id=int(agent_id), action="read")


@pytest.mark.regression("BUG-024")
def test_p1_security_agent_token_confined_to_its_agent_regression(client_for, api_client, staff_user):
    """BUG-024 (P1, security): a token acting as one agent read and wrote its owner's other agents and
    inherited the owner's staff rights: with a staff owner, GET agents/B/, canvases/<B's>/ and
    agents/B/episodes/ answered 200, POST agents/B/interactions/ stored the batch, and GET audit/ and
    bugs/ answered 200. Fix: every agent, canvas, proposal and episode route confines an agent
    principal to its own agent (404 for anything else, lists show only its rows), and the staff and
    app-permission checks deny an agent principal (commit recorded in the catalog).
    """
    from episodes.models import Interaction
    from episodes.tests.factories import conversation, episode_from
    from governance.tests.factories import make_canvas

    agent = make_agent(owner=staff_user, maturity=Maturity.INTERN)
    sibling = make_agent(owner=staff_user, maturity=Maturity.INTERN)
    stranger = make_agent(maturity=Maturity.INTERN)
    owner = client_for(staff_user)
    own_canvas, sibling_canvas = make_canvas(agent=agent), make_canvas(agent=sibling)
    episode = episode_from(sibling, conversation(contents=["check the deploy", "done"]))
    stored = Interaction.objects.count()
    email = {"action": "send_email", "params": {"to": "a@b.example"}}
    sibling_proposal = owner.post(f"/api/v1/agents/{sibling.pk}/actions/", email, format="json").json()["proposal"]["id"]
    client_for(stranger.owner).post(f"/api/v1/agents/{stranger.pk}/actions/", email, format="json")
    token = owner.post(f"/api/v1/agents/{agent.pk}/token/", {}, format="json").json()["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    own_proposal = api_client.post(f"/api/v1/agents/{agent.pk}/actions/", email, format="json").json()["proposal"]["id"]

    assert api_client.get(f"/api/v1/agents/{agent.pk}/").status_code == 200
    assert api_client.get(f"/api/v1/canvases/{own_canvas.pk}/").status_code == 200
    assert api_client.get(f"/api/v1/agents/{agent.pk}/episodes/?mode=temporal").status_code == 200
    assert [row["id"] for row in api_client.get("/api/v1/agents/").json()["results"]] == [agent.pk]
    assert [row["id"] for row in api_client.get("/api/v1/canvases/").json()["results"]] == [own_canvas.pk]
    assert [row["id"] for row in api_client.get("/api/v1/proposals/").json()["results"]] == [own_proposal]
    batch = {"interactions": [{"session_id": "s-9", "role": "user", "content": "hi", "timestamp": "2026-01-01T00:00:00Z"}]}
    answers = {
        "agent": api_client.get(f"/api/v1/agents/{sibling.pk}/"),
        "canvas": api_client.get(f"/api/v1/canvases/{sibling_canvas.pk}/"),
        "proposal": api_client.get(f"/api/v1/proposals/{sibling_proposal}/"),
        "episodes": api_client.get(f"/api/v1/agents/{sibling.pk}/episodes/?mode=temporal"),
        "episode": api_client.get(f"/api/v1/episodes/{episode.pk}/"),
        "interactions": api_client.post(f"/api/v1/agents/{sibling.pk}/interactions/", batch, format="json"),
    }
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 404)
    assert all(answer.json()["error"]["code"] == "NOT_FOUND" for answer in answers.values())
    assert Interaction.objects.count() == stored
    for path in ("/api/v1/audit/", "/api/v1/bugs/"):
        response = api_client.get(path)
        assert response.status_code == 403, (path, response.status_code)
        assert response.json()["error"]["code"] == "PERMISSION_DENIED"


@pytest.mark.regression("BUG-025")
@pytest.mark.parametrize(("maturity", "action"), [(Maturity.STUDENT, "read"), (Maturity.INTERN, "send_email")], ids=["execute", "proposal"])
def test_p1_integrity_lone_surrogate_in_action_params_regression(maturity, action, client_for):
    """BUG-025 (P1, integrity): a lone UTF-16 surrogate in action params was charged, then answered 500.

    A body holding the JSON escape ``\\ud800`` ran a ``read`` and charged the budget (100 -> 99, one
    execution row) before rendering the answer crashed with a 500, so a client that retried paid twice;
    an INTERN's ``send_email`` stored a proposal that made ``GET proposals/`` answer 500 from then on.
    PostgreSQL answered 503. Fix: the API's JSON parser refuses text that is not valid Unicode (lone
    surrogates) with a 400 before any view runs (commit recorded in the catalog).
    """
    from governance.models import ActionExecution, AuditEntry, Proposal

    agent = make_agent(maturity=maturity)
    client = client_for(agent.owner)
    client.raise_request_exception = False  # observe the answer a real client got
    body = json.dumps({"action": action, "cost": "1.00", "params": {"q": "\ud800"}})  # the escape, as sent
    assert "\\ud800" in body
    response = client.generic("POST", f"/api/v1/agents/{agent.pk}/actions/", body, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
    agent.refresh_from_db()
    assert agent.budget == Decimal("100.00")
    assert not ActionExecution.objects.exists()
    assert not Proposal.objects.exists()
    assert not AuditEntry.objects.exists()
    assert client.get("/api/v1/proposals/").status_code == 200
