"""A throwaway Python project in a git repository, for the tests of projects, suite environments and proofs.

The project is a tiny package (``calc``) whose code and tests import ``tinyhelper``, a dependency Atom's own
venv does not have: it is built here as a local wheel by ``pip wheel`` (an in-tree PEP 517 backend, so no
network and no build tool beyond pip is needed). A suite of the project builds its venv from the project's
``requirements.txt`` with ``--no-index --find-links`` that wheel directory and Atom's wheelhouse (pytest and
pytest-reportlog come from there).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.org",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.org",
}
WHEELHOUSE = Path(os.environ.get("ATOM_WHEELHOUSE") or Path(settings.BASE_DIR) / "var" / "wheelhouse")

# An in-tree build backend: what `pip wheel` calls to build the dependency's wheel (PEP 517 / PEP 427).
_BACKEND = """
import base64, hashlib, os, zipfile

NAME, VERSION = "atom_tinyhelper", "1.0"


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    info = f"{NAME}-{VERSION}.dist-info"
    files = {
        "tinyhelper/__init__.py": open("tinyhelper/__init__.py", "rb").read(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: atom-tinyhelper\\nVersion: {VERSION}\\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: tiny-backend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\\n".join(record) + "\\n")
    return name
"""


def wheelhouse_or_skip() -> Path:
    """Atom's wheelhouse (``make wheelhouse``), which must hold pytest and pytest-reportlog."""
    if not any(WHEELHOUSE.glob("pytest_reportlog-*.whl")):
        reason = "the wheelhouse (var/wheelhouse or ATOM_WHEELHOUSE) has no pytest-reportlog: `make test` (or `make wheelhouse`) fills it"
        if os.environ.get("ATOM_TEST_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return WHEELHOUSE


def dependency_wheel(directory: Path) -> Path:
    """Build the ``atom-tinyhelper`` wheel with pip into ``directory/wheels``; the wheel directory."""
    source = directory / "tinyhelper-src"
    (source / "tinyhelper").mkdir(parents=True, exist_ok=True)
    (source / "tinyhelper" / "__init__.py").write_text("def double(x):\n    return 2 * x\n")
    (source / "tiny_backend.py").write_text(_BACKEND)
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "tiny_backend"\nbackend-path = ["."]\n\n'
        '[project]\nname = "atom-tinyhelper"\nversion = "1.0"\n'
    )
    wheels = directory / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-index",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PIP_")},
    )
    assert list(wheels.glob("atom_tinyhelper-1.0-py3-none-any.whl"))
    return wheels


@dataclass
class Upstream:
    """A git repository the test writes commit by commit (the project's own repository)."""

    path: Path

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True, env=env).stdout.strip()

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    @property
    def url(self) -> str:
        return f"file://{self.path}"


BUGGY_CALC = (
    "from tinyhelper import double\n\n\ndef total(xs):\n    return sum(x for x in xs if x > 0)\n\n\ndef doubled(x):\n    return double(x)\n"
)
FIXED_CALC = "from tinyhelper import double\n\n\ndef total(xs):\n    return sum(xs)\n\n\ndef doubled(x):\n    return double(x)\n"
TOTAL_TEST = (
    "from calc import total\n\n\ndef test_total_of_negatives():\n    assert total([-1, -2, 3]) == 0\n"
)  # fmt: skip
DOUBLED_TEST = "from calc import doubled\n\n\ndef test_doubled():\n    assert doubled(2) == 4\n"


def calc_project(root: Path) -> tuple[Upstream, dict[str, str]]:
    """The project ``calc`` with its history; the commits by name.

    - ``base``: the package with a bug in ``total`` (negative numbers dropped), its requirements, a test of
      ``doubled`` that needs the dependency;
    - ``test701``: "Regression test for BUG-701" (fails here);
    - ``fix701``: "Fixes BUG-701" (``total`` counts every number);
    - ``fix702``: "Fixes BUG-702", which touches nothing ``test_doubled`` checks: that test passes before it.
    """
    repo = Upstream(root / "calc")
    repo.path.mkdir(parents=True)
    repo.git("init", "-q", "-b", "main")
    repo.write("requirements.txt", "atom-tinyhelper==1.0\n")
    repo.write("pytest.ini", "[pytest]\n")
    repo.write("calc/__init__.py", BUGGY_CALC)
    repo.write("tests/test_doubled.py", DOUBLED_TEST)
    commits = {"base": repo.commit("calc: total and doubled")}
    repo.write("tests/test_total.py", TOTAL_TEST)
    commits["test701"] = repo.commit("Regression test for BUG-701: total drops negative numbers")
    repo.write("calc/__init__.py", FIXED_CALC)
    commits["fix701"] = repo.commit("Fixes BUG-701: total counts negative numbers")
    repo.write("README", "calc\n")
    commits["fix702"] = repo.commit("Fixes BUG-702: doubled documented")
    return repo, commits
