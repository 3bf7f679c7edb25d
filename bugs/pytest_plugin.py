"""pytest plugin: the ``regression("BUG-007")`` marker, marker collection and live progress.

Loaded into the suite's pytest process by the runner (``-p bugs.pytest_plugin``), so a team's project
needs nothing installed or declared. ``--atom-collect-regressions=PATH`` writes ``{node_id: [keys]}``
for every collected test carrying the marker; ``--atom-progress=PATH`` keeps ``{"total", "done",
"current"}`` up to date while the tests run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

MARKER = "regression"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("atom", "Atom regression runner")
    group.addoption("--atom-collect-regressions", default=None, help="write the regression markers of collected tests as JSON")
    group.addoption("--atom-progress", default=None, help="keep a JSON progress file (total, done, current)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "regression(bug_key): links the test to a bug it proves fixed")
    progress = config.getoption("--atom-progress", default=None)
    if progress:
        config.pluginmanager.register(_Progress(Path(progress)), "atom-progress")


def marker_keys(item: pytest.Item) -> list[str]:
    """The bug keys named by the item's regression markers (one marker may name several)."""
    keys: list[str] = []
    for mark in item.iter_markers(name=MARKER):
        keys.extend(str(arg) for arg in mark.args)
        if "bug" in mark.kwargs:
            keys.append(str(mark.kwargs["bug"]))
    return keys


def _write_json(path: Path, data: Any) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    target = session.config.getoption("--atom-collect-regressions", default=None)
    if target:
        _write_json(Path(target), {item.nodeid: marker_keys(item) for item in session.items if marker_keys(item)})


class _Progress:
    """Rewrites one small file in place: cheap enough to run on every test of a 55,000-test suite.

    A reader may catch the file mid-write; it then sees invalid JSON and simply reads again later.
    """

    def __init__(self, path: Path) -> None:
        self.file = open(path, "w")  # noqa: SIM115 - open for the whole session, closed at its end
        self.total = 0
        self.done = 0

    def _write(self, current: str) -> None:
        self.file.seek(0)
        self.file.write(json.dumps({"total": self.total, "done": self.done, "current": current}))
        self.file.truncate()
        self.file.flush()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)
        self._write("")

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._write(nodeid)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.done += 1
        self._write("")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.file.close()
