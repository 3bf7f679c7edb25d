"""P0 (baseline): the platform's per-request cost, JWT-authenticated GET vs the public health check.

In-process through Django's test client, interleaved so noise falls on both alike. It is the floor
that every authenticated route pays (token decode and verification, user load from the database).
"""

from __future__ import annotations

from bench.harness import Result, interleaved, median

ID = "P0"


def run(scale: float) -> list[Result]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from atom.testing import access_token_for

    user = get_user_model().objects.create_user(username="bench", password="bench-password-123")
    client = Client()
    headers = {"Authorization": f"Bearer {access_token_for(user)}"}
    count = max(50, int(2000 * scale))
    authed, public = interleaved(
        lambda: client.get("/api/v1/no-such-route/", headers=headers),
        lambda: client.get("/healthz"),
        count=count,
    )
    database = connection.vendor
    return [
        Result(
            ID,
            "authenticated GET p50",
            median(authed),
            "ms",
            "baseline for P3",
            median(public),
            median(authed) / median(public),
            database,
            scale,
        ),
    ]
