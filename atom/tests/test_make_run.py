"""The environment `make run` builds is the one the admin's "run regression tests" uses: it must run Atom's suite.

The venv is built by the Makefile's own rules, installing only from ``var/wheelhouse`` (which
`make test` fills from the pinned requirements), so no test ever reaches a package index.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

WHEELHOUSE = Path(os.environ.get("ATOM_WHEELHOUSE") or Path(settings.BASE_DIR) / "var" / "wheelhouse")

# Two catalogued regression tests: one needs pytest-django's database fixtures, the other factory_boy.
SUITE_SAMPLE = [
    "atom/tests/test_regressions.py::test_p2_crash_refresh_for_deleted_user_regression",
    "governance/tests/test_audit.py::test_p3_crash_audit_agent_filter_beyond_64_bits_regression",
]

# Runs inside the venv `make run` built: one run of the sample through the runner, in this process.
_RUN_SCRIPT = """
import json, sys
import django
django.setup()
from bugs.models import Run
from bugs.services.shards import run_shard_execute
from bugs.services.runs import run_trigger
run = run_trigger(node_ids=sys.argv[1:], trigger=Run.Trigger.CLI)
for shard in run.shards.all():
    run_shard_execute(shard_id=shard.pk, finalize=True)
run.refresh_from_db()
print(json.dumps({"status": run.status, "passed": run.passed, "total": run.total, "error": run.error_message[-1500:]}))
"""


def _make_run_env(var_dir: Path) -> dict[str, str]:
    """The environment of an operator's shell: embedded mode, and pip pointed at the wheelhouse only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATOM_", "DJANGO_", "PYTEST_", "CELERY_"))}
    for name in ("DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(name, None)
    env.update({"ATOM_VAR_DIR": str(var_dir), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELHOUSE), "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return env


def _venv_path() -> Path:
    """Where the venv lives: one per content of the files that decide it, shared by the runs of this checkout.

    Built once by the Makefile's rules and reused (make finds it up to date), so the second pass of CI
    and `make verify` do not pay for the install again.
    """
    base = Path(settings.BASE_DIR)
    digest = hashlib.sha256(b"".join((base / name).read_bytes() for name in ("Makefile", "requirements.txt"))).hexdigest()[:16]
    return base / "var" / "make-run-venv" / digest


def _wheelhouse_or_skip() -> None:
    if not any(WHEELHOUSE.glob("[Dd]jango-*.whl")):
        reason = "the wheelhouse (var/wheelhouse or ATOM_WHEELHOUSE) is empty: `make test` (or `make wheelhouse`) fills it"
        if os.environ.get("ATOM_TEST_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.mark.regression("BUG-080")
@pytest.mark.timeout(300)
def test_p1_infrastructure_make_run_env_runs_atom_suite_regression(tmp_path):
    """BUG-080 (P1, infrastructure): on a fresh clone, "run regression tests" from the admin ended in Error.

    `make run` installed requirements.txt only, and Atom's own suite needs pytest-django and
    pytest-timeout (and the factories), so pytest exited 4 with "AppRegistryNotReady" and "Unknown
    config option: DJANGO_SETTINGS_MODULE". Nothing caught it because CI and `make verify` always run
    in the dev environment. This test builds the venv with the Makefile's own rules, from the local
    wheelhouse, and runs two catalogued regression tests through the runner inside it.
    """
    _wheelhouse_or_skip()
    venv, var_dir = _venv_path(), tmp_path / "var"
    env = _make_run_env(var_dir)
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Two test runs at once must not build the same venv together.
    with open(venv.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = subprocess.run(
            ["make", "--no-print-directory", f"VENV={venv}", "migrate"],
            cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
    assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
    ran = subprocess.run(
        [str(venv / "bin" / "python"), "-c", _RUN_SCRIPT, *SUITE_SAMPLE],
        cwd=settings.BASE_DIR, env={**env, "DJANGO_SETTINGS_MODULE": "atom.settings"},
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    outcome = json.loads(ran.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "passed", outcome
    assert outcome["passed"] == outcome["total"] >= len(SUITE_SAMPLE), outcome


@pytest.mark.regression("BUG-085")
def test_p3_quality_embedded_warning_printed_four_times_regression(tmp_path):
    """BUG-085 (P3, quality): `make run` printed the embedded-mode warning (atom.W001) four times at start.

    Every manage.py command runs Django's system checks, and `make run` ran four (migrate, seed_demo,
    ensure_admin, runserver), so the one warning an operator should read drowned in repeats. Now the
    checks run once, with migrate; the later commands and the web process skip them.
    """
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", f"VENV={tmp_path / 'venv'}", "run"],
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    commands = [line for line in planned.stdout.splitlines() if "manage.py" in line]
    procfile = (Path(settings.BASE_DIR) / "Procfile").read_text().splitlines()
    commands += [line for line in procfile if "manage.py" in line]
    checked = [command for command in commands if "--skip-checks" not in command]
    assert len(checked) == 1, checked
