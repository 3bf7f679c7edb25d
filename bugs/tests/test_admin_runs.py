"""The run page of the admin stays usable for a run of any size."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from bugs.models import Result
from bugs.tests.factories import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(username="root", password="pw-correct-horse"))
    return client


@pytest.mark.regression("BUG-050")
def test_p3_performance_run_page_lists_a_bounded_number_of_results_regression(admin_client):
    """BUG-050 (P3, performance): the admin page of a run listed every result inline.

    A run of the 55,248-case suite rendered 55,248 read-only inline rows: seconds of work and a page
    of many megabytes, for a list no one scrolls. Fix: the page shows the first results that need
    attention (errors and failures first), says how many there are, and links to the full list of
    the run's results, which has filters and search (commit recorded in the catalog).
    """
    run = make_run(status="failed", total=450, done=450)
    Result.objects.bulk_create(
        [Result(run=run, node_id=f"tests/test_many.py::test_{n:03d}", outcome="passed") for n in range(400)]
        + [Result(run=run, node_id=f"tests/test_many.py::test_broken_{n:02d}", outcome="failed") for n in range(50)]
    )

    page = admin_client.get(reverse("admin:bugs_run_change", args=[run.pk]))

    assert page.status_code == 200
    content = page.content.decode()
    rows = re.findall(r'<td class="field-node_id">\s*<p>([^<]*)</p>', content)
    assert len(rows) == 100
    assert sum(row.startswith("tests/test_many.py::test_broken_") for row in rows) == 50
    full_list = reverse("admin:bugs_result_changelist") + f"?run__id__exact={run.pk}"
    assert full_list.replace("&", "&amp;") in content or full_list in content
    listed = admin_client.get(full_list)
    assert listed.status_code == 200
    assert "tests/test_many.py::test_399" in admin_client.get(full_list + "&q=test_399").content.decode()
