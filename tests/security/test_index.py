"""The README of this folder maps QUALITY part B to tests; every test it names must exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = Path(__file__).with_name("README.md")
REFERENCE = re.compile(r"`([\w/]+\.py)::(test_\w+)`")


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_test_the_index_names_exists():
    references = REFERENCE.findall(README.read_text(encoding="utf-8"))
    assert len(references) >= 60, len(references)
    missing = [f"{file}::{name}" for file, name in references if not (ROOT / file).is_file() or name not in _test_functions(ROOT / file)]
    assert missing == []


def test_every_suite_of_this_folder_is_in_the_index():
    listed = README.read_text(encoding="utf-8")
    suites = sorted(path.name for path in Path(__file__).parent.glob("*.py") if path.name != "__init__.py")
    assert [name for name in suites if f"`{name}`" not in listed and name not in ("conftest.py", "test_index.py")] == []
