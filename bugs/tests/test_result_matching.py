"""Results answer to the links of their project by node id or identity, in a fixed number of statements."""

from __future__ import annotations

import pytest

from bugs.models import BugResult, RegressionTest, Run
from bugs.parsers import ParsedResult
from bugs.services.results import results_attach, results_store
from bugs.services.status import run_apply_rules
from bugs.tests.factories import make_bug, make_regression_test, make_run

pytestmark = pytest.mark.django_db


def _linked_run(tests: int) -> Run:
    """A running run with ``tests`` results, every one linked to a bug of its own, none attached yet."""
    run = make_run(status="running")
    for n in range(tests):
        make_regression_test(bug=make_bug(project=run.suite.project), node_id=f"tests/test_m.py::test_{n}")
    parsed = [ParsedResult(node_id=f"tests/test_m.py::test_{n}", outcome="failed" if n % 3 else "passed") for n in range(tests)]
    results_store(run=run, parsed=parsed, attach=False)
    return run


@pytest.mark.parametrize("tests", [3, 60])
def test_attaching_costs_four_queries_whatever_the_number_of_results(django_assert_num_queries, tests):
    run = _linked_run(tests)
    # The run's project, its links, the run's results they name, and one write of the attachments.
    with django_assert_num_queries(4):
        results_attach(run=run)
    assert BugResult.objects.filter(result__run=run).count() == tests


@pytest.mark.parametrize("tests", [3, 60])
def test_the_status_rules_cost_the_same_queries_whatever_the_number_of_linked_results(django_assert_num_queries, tests):
    run = _linked_run(tests)
    results_attach(run=run)
    # The matches (three), the latest results (one write), the tests mixed on the commit, and the fixed
    # or resolved bugs among those attached (the bugs are open: none, so nothing moves).
    with django_assert_num_queries(6):
        run_apply_rules(run=run)
    assert RegressionTest.objects.filter(last_result__run=run).count() == tests
