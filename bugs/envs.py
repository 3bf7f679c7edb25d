"""A suite's Python: an interpreter it names, a venv Atom builds from its requirement files, or Atom's own.

A built venv lives under ``ATOM_ENVS_DIR/<hash>``, the hash of the requirement files' names and contents
and of the base interpreter's version: the same files share one venv, a changed file gets a new one. It is
built in a temporary directory next to it and renamed once pip succeeded, so a half-built venv is never
used; one build per hash at a time (a file lock). pytest and pytest-reportlog are installed with the
requirements, with the pip options of ``ATOM_ENV_PIP_ARGS``. Every build is a ``SuiteEnvironment`` row
with its log.

The runner's pytest plugin is handed to every suite as a standalone module (``atom_runner_plugin``, a copy
of ``bugs/pytest_plugin.py`` that imports nothing but pytest), so it loads under any interpreter, without
Django and without Atom's code base on the path.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shlex
import shutil
import subprocess  # nosec B404 - python and pip run from argument lists, never a shell
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.utils import timezone

from atom.errors import DomainError
from bugs.models import Suite, SuiteEnvironment

PLUGIN_MODULE = "atom_runner_plugin"
RUNNER_PACKAGES = ("pytest", "pytest-reportlog")
_READY = ".atom-ready"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_REQUIREMENT_FILES = 20
_LOG_MAX = 200_000


class SuiteEnvironmentError(DomainError):
    """An interpreter Atom refuses, or a venv that could not be built."""

    code = "ENVIRONMENT_ERROR"


def python_validate(value: str) -> str:
    """An interpreter path that exists and is executable, or a refusal that says which of the two it is not."""
    value = value.strip()
    if not value:
        return ""
    if _CONTROL.search(value) or value.startswith("-"):
        raise SuiteEnvironmentError("An interpreter path cannot start with '-' or hold control characters.", code="INVALID_PYTHON")
    path = Path(value)
    if not path.is_absolute():
        raise SuiteEnvironmentError(f"The interpreter {value} is not an absolute path.", code="INVALID_PYTHON")
    if not path.exists():
        raise SuiteEnvironmentError(f"The interpreter {value} does not exist.", code="INVALID_PYTHON")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise SuiteEnvironmentError(f"The interpreter {value} is not an executable file.", code="INVALID_PYTHON")
    return value


def requirements_validate(values: object) -> list[str]:
    """Requirement files as relative paths inside the repository (never absolute, never above it)."""
    if values in (None, ""):
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SuiteEnvironmentError("Requirements are a list of file paths.", code="INVALID_REQUIREMENTS")
    if len(values) > _MAX_REQUIREMENT_FILES:
        raise SuiteEnvironmentError(f"At most {_MAX_REQUIREMENT_FILES} requirement files.", code="INVALID_REQUIREMENTS")
    cleaned = []
    for value in values:
        value = value.strip()
        pure = PurePosixPath(value)
        if not value or value.startswith("-") or _CONTROL.search(value) or pure.is_absolute() or ".." in pure.parts or "\\" in value:
            raise SuiteEnvironmentError(
                f"{value!r} is not a requirement file of the repository: give a relative path inside it.", code="INVALID_REQUIREMENTS"
            )
        cleaned.append(value)
    return cleaned


# --- the runner's plugin, standalone ------------------------------------------------------------------


def runner_plugin_dir() -> Path:
    """A directory holding only ``atom_runner_plugin.py`` (this checkout's ``bugs/pytest_plugin.py``): put on
    the suite's PYTHONPATH, it loads with ``-p atom_runner_plugin`` under any interpreter with pytest."""
    source = (Path(__file__).resolve().parent / "pytest_plugin.py").read_bytes()
    directory = Path(settings.ATOM_ENVS_DIR) / f"plugin-{hashlib.sha256(source).hexdigest()[:16]}"
    target = directory / f"{PLUGIN_MODULE}.py"
    if not target.exists():
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / f".{uuid.uuid4().hex}.partial"
        partial.write_bytes(source)
        os.replace(partial, target)
    return directory


# --- built venvs --------------------------------------------------------------------------------------


def _run(argv: list[str], *, timeout: int, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return subprocess.run(  # noqa: S603  # nosec B603 - argument list, no shell
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _python_version(python: str) -> str:
    try:
        completed = _run([python, "-c", "import sys; print(sys.version)"], timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SuiteEnvironmentError(f"The interpreter {python} could not run: {exc}", code="INVALID_PYTHON") from exc
    if completed.returncode != 0:
        raise SuiteEnvironmentError(f"The interpreter {python} could not run: {completed.stderr.strip()[-500:]}", code="INVALID_PYTHON")
    return completed.stdout.strip()


def environment_hash(*, python_version: str, files: list[tuple[str, bytes]]) -> str:
    """The key of a venv: the interpreter's version, each requirement file's name and contents, the pip options."""
    digest = hashlib.sha256()
    for part in (python_version.encode(), settings.ATOM_ENV_PIP_ARGS.encode(), *(f"{n}\0".encode() + c for n, c in files)):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _requirement_files(suite: Suite, checkout: Path) -> list[tuple[str, Path, bytes]]:
    root = checkout.resolve()
    found = []
    for name in requirements_validate(suite.requirements):
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            raise SuiteEnvironmentError(f"The requirement file {name} points outside the repository.", code="INVALID_REQUIREMENTS")
        if not path.is_file():
            raise SuiteEnvironmentError(f"The requirement file {name} is not in the checkout.", code="ENVIRONMENT_BUILD_FAILED")
        found.append((name, path, path.read_bytes()))
    return found


def environment_build(suite: Suite, checkout: Path) -> Path:
    """The venv of the suite's requirement files as they are in ``checkout``: reused when built, else built.

    Raises SuiteEnvironmentError with pip's last lines when the build fails (the row keeps the whole log).
    """
    base = python_validate(suite.python) or sys.executable
    version = _python_version(base)
    files = _requirement_files(suite, checkout)
    key = environment_hash(python_version=version, files=[(name, content) for name, _, content in files])
    root = Path(settings.ATOM_ENVS_DIR)
    target = root / key
    with _lock(root / f".{key}.lock"):
        if (target / _READY).exists():
            if not SuiteEnvironment.objects.filter(suite=suite, hash=key, status=SuiteEnvironment.Status.READY).exists():
                SuiteEnvironment.objects.create(
                    suite=suite, hash=key, python=base, python_version=version, requirements=[n for n, _, _ in files],
                    path=str(target), status=SuiteEnvironment.Status.READY, log="Reused the venv already built for these files.",
                    built_at=timezone.now(),
                )  # fmt: skip
            return target
        record = SuiteEnvironment.objects.create(
            suite=suite, hash=key, python=base, python_version=version, requirements=[n for n, _, _ in files], path=str(target)
        )
        shutil.rmtree(target, ignore_errors=True)  # a directory without the ready mark is a build that never finished
        partial = root / f".{key}.{uuid.uuid4().hex}.partial"
        log: list[str] = []
        try:
            steps = [
                [base, "-m", "venv", str(partial)],
                [str(partial / "bin" / "python"), "-m", "pip", "install", *shlex.split(settings.ATOM_ENV_PIP_ARGS), *RUNNER_PACKAGES,
                 *(arg for _, path, _ in files for arg in ("-r", str(path)))],
            ]  # fmt: skip
            for argv in steps:
                log.append("$ " + shlex.join(argv))
                try:
                    completed = _run(argv, timeout=settings.ATOM_ENV_BUILD_TIMEOUT, cwd=checkout)
                except (OSError, subprocess.TimeoutExpired) as exc:
                    raise SuiteEnvironmentError(f"{argv[2]} could not run: {exc}", code="ENVIRONMENT_BUILD_FAILED") from exc
                log += [completed.stdout, completed.stderr]
                if completed.returncode != 0:
                    lines = [line for line in completed.stderr.splitlines() if line.strip()] or [f"exit code {completed.returncode}"]
                    raise SuiteEnvironmentError(
                        f"The suite's venv could not be built ({argv[2]} failed): " + " ".join(lines[-3:])[-1500:],
                        code="ENVIRONMENT_BUILD_FAILED",
                    )
            (partial / _READY).write_text(key + "\n")
            os.replace(partial, target)
        except SuiteEnvironmentError as exc:
            SuiteEnvironment.objects.filter(pk=record.pk).update(
                status=SuiteEnvironment.Status.FAILED, log="\n".join(log)[-_LOG_MAX:], error_message=exc.message
            )
            raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        SuiteEnvironment.objects.filter(pk=record.pk).update(
            status=SuiteEnvironment.Status.READY, log="\n".join(log)[-_LOG_MAX:], built_at=timezone.now()
        )
    return target


def suite_python(suite: Suite, checkout: Path) -> str:
    """The interpreter a suite's pytest runs under: its built venv, its named interpreter, or Atom's own."""
    if suite.requirements:
        return str(environment_build(suite, checkout) / "bin" / "python")
    if suite.python:
        return python_validate(suite.python)
    return sys.executable
