"""`make run`'s supervisor: web, worker and beat named in the log; a dead one stops all, loudly; signals stop all."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = [pytest.mark.worker, pytest.mark.timeout(120)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _embedded_env(var_dir: Path, port: int) -> dict[str, str]:
    """An operator's shell on a fresh clone: no services, Atom's own defaults, a private var directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATOM_", "DJANGO_", "CELERY_", "PYTEST_"))}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env.update({"ATOM_VAR_DIR": str(var_dir), "ATOM_PORT": str(port), "ATOM_WORKER_CONCURRENCY": "1", "PYTHONUNBUFFERED": "1"})
    return env


class Supervised:
    """`python -m atom.supervise` (what `make run` ends with), its output collected in a file."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, _free_port()
        self.env = _embedded_env(root / "var", self.port)
        self.log = root / "run.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "atom.supervise"], cwd=settings.BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output(), re.MULTILINE)
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} in:\n{self.output()[-4000:]}")

    def pids(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in re.findall(r"system \| (\w+) started \(pid=(\d+)\)", self.output())}

    def ping(self) -> str:
        answer = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "atom", "inspect", "ping", "--timeout", "10"],
            cwd=settings.BASE_DIR, env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        return answer.stdout + answer.stderr

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for pid in self.pids().values():
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for every purpose here; only its parent has not read its status yet.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Supervised]:
    running = Supervised(tmp_path)
    try:
        running.wait_for(r"^\S+ worker \| .*ready\.")
        running.wait_for(r"^\S+ beat\s+\| .*beat: Starting")
        yield running
    finally:
        running.stop()


def _all_gone(running: Supervised, timeout: float = 30) -> None:
    running.process.wait(timeout)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in running.pids().values()):
        time.sleep(0.2)
    assert not [name for name, pid in running.pids().items() if _alive(pid)], running.output()[-3000:]


@pytest.mark.regression("BUG-083")
def test_p1_infrastructure_dead_worker_under_make_run_goes_unnoticed_regression(supervised):
    """BUG-083 (P1, infrastructure): the worker of `make run` died and nobody said so.

    `make run` started the worker in the background of a shell and the web server in the
    foreground: when the worker died (BUG-081) the web server went on serving, queued runs stayed at
    0/2 forever and nothing was printed. Now web, worker and beat run under a supervisor that names
    each in the log, and a process that dies stops everything with a message that says which.
    """
    assert {"web", "worker", "beat"} <= set(supervised.pids()), supervised.output()[-3000:]
    assert "pong" in supervised.ping()
    os.kill(supervised.pids()["worker"], signal.SIGKILL)
    _all_gone(supervised)
    assert supervised.process.returncode != 0
    assert re.search(r"Atom stopped: the worker process exited", supervised.output()), supervised.output()[-3000:]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_signal_to_the_supervisor_stops_web_worker_and_beat(supervised, signum):
    supervised.process.send_signal(signum)
    _all_gone(supervised)
    assert "Atom stopped: web, worker and beat were asked to stop" in supervised.output()


def _chatty_procfile(root: Path) -> Path:
    """Three processes that print all the time, each leaving its pid in a file (exec keeps the pid)."""
    loop = "import time\\nwhile True:\\n    print('line', flush=True)\\n    time.sleep(0.02)"
    lines = [f'{name}: echo $$ > {root / name}.pid; exec {sys.executable} -u -c "$(printf "{loop}")"' for name in ("web", "worker", "beat")]
    procfile = root / "Procfile"
    procfile.write_text("\n".join(lines) + "\n")
    return procfile


@pytest.mark.regression("BUG-114")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_p1_infrastructure_supervisor_ignores_sigterm_once_its_reader_has_gone_regression(tmp_path, signum):
    """BUG-114 (P1, infrastructure): with its output piped to a reader that had exited (`make run | head`),
    the supervisor ignored SIGTERM and Ctrl-C and had to be killed, leaving web, worker and beat running.

    Writing a line to the closed pipe raised BrokenPipeError in honcho's loop, also inside its signal
    handler, so nothing was ever asked to stop. The supervisor must stop all three whatever its output.
    """
    procfile = _chatty_procfile(tmp_path)
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "atom.supervise", "--procfile", str(procfile)],
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    pid_files = [tmp_path / f"{name}.pid" for name in ("web", "worker", "beat")]
    try:
        assert supervisor.stdout is not None
        supervisor.stdout.readline()
        supervisor.stdout.close()  # the reader exits, as `head -1` does
        deadline = time.monotonic() + 30
        while not all(f.exists() and f.read_text().strip() for f in pid_files) and time.monotonic() < deadline:
            time.sleep(0.1)
        children = [int(f.read_text()) for f in pid_files]
        time.sleep(1)  # lines keep coming: the pipe is broken by now
        supervisor.send_signal(signum)
        supervisor.wait(STOP_WAIT_SECONDS)
        assert not [pid for pid in children if _alive(pid)], "web, worker and beat all stopped"
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait(10)
        for pid_file in pid_files:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


STOP_WAIT_SECONDS = 15
