"""``python -m atom.supervise``: what `make run` ends with: web, worker and beat under one supervisor.

The processes of the Procfile run under honcho, each line of output prefixed with the process's
name. When any of them exits, honcho stops the others, and this prints which one exited and why
everything stopped, so a dead worker can never go unnoticed behind a web server that keeps serving
(BUG-083). Ctrl-C and SIGTERM stop everything. Commands are found in the virtualenv of this
interpreter first, whatever the caller's PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import honcho.manager  # type: ignore[import-untyped]
from honcho.environ import parse_procfile  # type: ignore[import-untyped]
from honcho.manager import Manager
from honcho.printer import Printer  # type: ignore[import-untyped]

BASE_DIR = Path(__file__).resolve().parent.parent
# Seconds between SIGTERM and SIGKILL. honcho's 5 s is shorter than an idle Celery worker's warm
# shutdown (about 6 s), so the worker was always killed; this leaves room for a short task too.
STOP_GRACE_SECONDS = 20


class _StopGently:
    """How the supervisor stops a process: SIGTERM to the process itself, SIGKILL to its whole group.

    honcho sends SIGTERM to the whole process group, so Celery's pool children died under their
    parent's warm shutdown, which then hung until the SIGKILL. The process itself stops its own
    children; only a process that ignores the request loses its group.
    """

    def terminate(self, pid: int) -> None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)

    def kill(self, pid: int) -> None:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


class _Output:
    """Standard output that outlives its reader (`make run | head`): once the pipe is broken, lines are dropped.

    honcho prints every line, in its loop and in its signal handler: a BrokenPipeError there stopped the
    loop and the handler alike, so SIGTERM and Ctrl-C no longer stopped anything (BUG-114). The
    processes keep being supervised; only their output has nowhere to go.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.broken = False

    def _guard(self, act: Callable[[], Any]) -> None:
        if self.broken:
            return
        try:
            act()
        except (BrokenPipeError, ValueError):  # ValueError: the stream was closed after a broken pipe
            self.broken = True
            # Later writes, Python's own flush at exit included, go nowhere instead of failing again.
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)

    def write(self, text: str) -> int:
        self._guard(lambda: self.stream.write(text))
        return len(text)

    def flush(self) -> None:
        self._guard(self.stream.flush)

    def isatty(self) -> bool:
        return bool(self.stream.isatty())


class _Supervisor(Manager):
    """honcho's manager, remembering which process exited first on its own (not stopped by a signal)."""

    def __init__(self, output: _Output) -> None:
        super().__init__(printer=Printer(output))
        self._procmgr = _StopGently()
        self.first_exit: tuple[str, str] | None = None
        self.signalled = False

    def _system_print(self, data: str) -> None:
        if data.endswith(" received\n"):
            self.signalled = True
        elif " stopped (rc=" in data and self.first_exit is None and not self.signalled and not self._terminating:
            name, _, rest = data.partition(" stopped (rc=")
            self.first_exit = (name, rest.rstrip(")\n"))
        super()._system_print(data)


def _explain(supervisor: _Supervisor) -> str:
    if supervisor.first_exit is None:
        return "Atom stopped: web, worker and beat were asked to stop and have stopped."
    name, code = supervisor.first_exit
    return (
        f"Atom stopped: the {name} process exited (return code {code}), so web, worker and beat were all stopped; "
        "nothing is left running half-way. Its last lines above say why; start again with `make run`."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atom.supervise", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--procfile", default=str(BASE_DIR / "Procfile"))
    args = parser.parse_args(argv)
    processes = parse_procfile(Path(args.procfile).read_text()).processes
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    honcho.manager.KILL_WAIT = STOP_GRACE_SECONDS
    output = _Output(sys.stdout)
    supervisor = _Supervisor(output)
    for name, command in processes.items():
        supervisor.add_process(name, command, env=env, cwd=str(BASE_DIR))
    supervisor.loop()
    print(_explain(supervisor), file=output, flush=True)
    code = supervisor.returncode
    if supervisor.first_exit is not None and not code:
        return 1  # a process that exits on its own is a failure of the whole, even with code 0
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
