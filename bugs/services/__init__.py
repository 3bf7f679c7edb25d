"""Writes of the bugs app; the public services are re-exported here."""

from bugs.services.bugs import (
    ALLOWED_TRANSITIONS,
    StatusRefused,
    bug_by_key,
    bug_create,
    bug_evidence,
    bug_key_validate,
    bug_link_test,
    bug_mark_duplicate,
    bug_status_refusal,
    bug_transition,
    bug_update,
    severity_policy_update,
    suite_checkout,
    suite_default,
)
from bugs.services.commits import commits_link, regression_tests_sync
from bugs.services.runs import (
    node_id_validate,
    results_store,
    run_cancel,
    run_finalize,
    run_import,
    run_reap_stale,
    run_shard_execute,
    run_trigger,
    run_trigger_scheduled,
)
from bugs.services.seed import demo_data_seed
from bugs.services.triage import triage_import

__all__ = [
    "ALLOWED_TRANSITIONS",
    "StatusRefused",
    "bug_by_key",
    "bug_create",
    "bug_evidence",
    "bug_key_validate",
    "bug_link_test",
    "bug_mark_duplicate",
    "bug_status_refusal",
    "bug_transition",
    "bug_update",
    "commits_link",
    "demo_data_seed",
    "node_id_validate",
    "regression_tests_sync",
    "results_store",
    "run_cancel",
    "run_finalize",
    "run_import",
    "run_reap_stale",
    "run_shard_execute",
    "run_trigger",
    "run_trigger_scheduled",
    "severity_policy_update",
    "suite_checkout",
    "suite_default",
    "triage_import",
]
