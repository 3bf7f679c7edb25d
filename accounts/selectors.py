"""Reads of the accounts app: a user with their token generation, in one query."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, PositiveBigIntegerField, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import DemoAccount, TokenGeneration


def user_for_token(*, user_id: Any) -> Any | None:
    """The user a token names, with ``current_token_generation`` (0 without a row) and ``is_demo_account``
    annotated, or None. One query, so these checks cost nothing over simplejwt's own user lookup.
    """
    generation = Subquery(TokenGeneration.objects.filter(user=OuterRef("pk")).values("generation")[:1])
    current = Coalesce(generation, Value(0), output_field=PositiveBigIntegerField())
    demo = Exists(DemoAccount.objects.filter(user=OuterRef("pk")))
    queryset = get_user_model().objects.annotate(current_token_generation=current, is_demo_account=demo)
    try:
        return queryset.filter(pk=user_id).first()
    except (TypeError, ValueError):
        return None
