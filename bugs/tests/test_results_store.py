"""Storing a run's results: new ones are added, one already stored under the same node id is replaced,
and a batch that meets stored results is written whole, inside the caller's transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from bugs.models import Result
from bugs.parsers import ParsedResult
from bugs.services.results import results_store
from bugs.tests.factories import make_run

pytestmark = pytest.mark.django_db


def _stored(run) -> dict[str, tuple[str, str]]:
    return {
        node_id: (outcome, message)
        for node_id, outcome, message in Result.objects.filter(run=run).values_list("node_id", "outcome", "message")
    }


def test_new_results_are_added_and_a_stored_one_is_replaced_in_the_same_transaction():
    run = make_run()
    first = [ParsedResult(node_id=f"tests/test_a.py::test_{n}", outcome="passed") for n in range(5)]
    again = [
        ParsedResult(node_id="tests/test_a.py::test_2", outcome="failed", message="assert 0 == 2 ✗"),
        ParsedResult(node_id="tests/test_a.py::test_9", outcome="skipped", message="later"),
    ]
    with transaction.atomic():
        assert results_store(run=run, parsed=first, attach=False) == 5
        assert results_store(run=run, parsed=again, attach=False) == 2
        # The transaction is still usable after the batch that met stored results.
        assert Result.objects.filter(run=run).count() == 6
    expected = {f"tests/test_a.py::test_{n}": ("passed", "") for n in range(5)}
    expected["tests/test_a.py::test_2"] = ("failed", "assert 0 == 2 ✗")
    expected["tests/test_a.py::test_9"] = ("skipped", "later")
    assert _stored(run) == expected


def test_the_same_node_id_in_two_runs_is_two_results():
    one, two = make_run(), make_run()
    parsed = [ParsedResult(node_id="tests/test_a.py::test_x", outcome="passed")]
    results_store(run=one, parsed=parsed, attach=False)
    results_store(run=two, parsed=[ParsedResult(node_id="tests/test_a.py::test_x", outcome="error")], attach=False)
    assert _stored(one) == {"tests/test_a.py::test_x": ("passed", "")}
    assert _stored(two) == {"tests/test_a.py::test_x": ("error", "")}
