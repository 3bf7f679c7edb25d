"""The favicon every browser asks for."""

from __future__ import annotations

import pytest


@pytest.mark.regression("BUG-086")
@pytest.mark.django_db
def test_p3_quality_favicon_404_on_every_page_regression(client):
    """BUG-086 (P3, quality): every page of the admin and the browsable API logged a 404 for /favicon.ico.

    Browsers ask for it whatever the page says, and Atom had no such route, so the log of `make run`
    filled with 404s that hid the requests that matter. Now it is served, public and cached.
    """
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/")
    assert "max-age" in response["Cache-Control"]
