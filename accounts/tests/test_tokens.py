"""The token stamp: what it binds, what it hides, and the tokens that carry it (agent principals included)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import TokenGeneration
from accounts.selectors import user_for_token
from accounts.services import user_sign_out_everywhere, user_tokens_revoke
from accounts.tokens import STAMP_CLAIM, StampedRefreshToken, token_stamp, user_token_stamp
from atom.testing import api_client_for
from governance.tests.factories import make_agent

pytestmark = pytest.mark.django_db


def status_with(token: str) -> tuple[int, str]:
    response = APIClient().get("/api/v1/agents/", HTTP_AUTHORIZATION=f"Bearer {token}")
    return response.status_code, response.json().get("error", {}).get("code", "") if response.status_code >= 400 else ""


def test_the_stamp_binds_user_generation_and_password_and_reveals_none_of_them(user):
    stamp = token_stamp(user_id=user.pk, generation=0, password=user.password)
    assert stamp != token_stamp(user_id=user.pk, generation=1, password=user.password)
    assert stamp != token_stamp(user_id=user.pk + 1, generation=0, password=user.password)
    assert stamp != token_stamp(user_id=user.pk, generation=0, password=user.password + "x")
    assert user.password not in stamp
    assert len(stamp) == 40


def test_a_token_without_a_stamp_is_revoked(user):
    assert status_with(str(RefreshToken.for_user(user).access_token)) == (401, "TOKEN_REVOKED")


def test_a_token_with_a_forged_stamp_is_revoked(user):
    access = StampedRefreshToken.for_user(user).access_token
    access[STAMP_CLAIM] = "0" * 40
    assert status_with(str(access)) == (401, "TOKEN_REVOKED")


def test_revocations_count_up_and_never_lose_each_other(user):
    user_tokens_revoke(user_id=user.pk)
    user_sign_out_everywhere(user=user)
    assert TokenGeneration.objects.get(user=user).generation == 2
    annotated = user_for_token(user_id=user.pk)
    assert annotated is not None
    assert annotated.current_token_generation == 2
    assert user_token_stamp(user=annotated) == user_token_stamp(user=user)


def test_user_lookup_by_a_malformed_id_finds_no_one():
    assert user_for_token(user_id="not-a-number") is None


def test_an_agent_token_dies_with_its_owners_sign_out(client_for):
    agent = make_agent()
    owner = client_for(agent.owner)
    access = owner.post(f"/api/v1/agents/{agent.pk}/token/", {}, format="json").json()["access"]
    assert AccessToken(access)[STAMP_CLAIM] == user_token_stamp(user=agent.owner)
    assert status_with(access)[0] == 200
    user_sign_out_everywhere(user=agent.owner)
    assert status_with(access) == (401, "TOKEN_REVOKED")


def test_a_token_acting_as_an_agent_cannot_sign_its_owner_out(client_for):
    agent = make_agent()
    access = client_for(agent.owner).post(f"/api/v1/agents/{agent.pk}/token/", {}, format="json").json()["access"]
    response = APIClient().post("/api/v1/auth/logout-all/", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code == 403
    assert not TokenGeneration.objects.filter(user=agent.owner, generation__gt=0).exists()


def test_sign_out_everywhere_needs_a_token(api_client):
    assert api_client.post("/api/v1/auth/logout-all/", {}, format="json").status_code == 401


def test_the_caller_signs_out_their_own_token_too(user):
    client = api_client_for(user)
    assert client.post("/api/v1/auth/logout-all/", {}, format="json").status_code == 204
    assert client.get("/api/v1/agents/").json()["error"]["code"] == "TOKEN_REVOKED"
