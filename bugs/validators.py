"""Shapes Atom accepts from outside for the bugs app: bug keys, pytest node ids and the tests a bug links."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from atom.errors import DomainError
from bugs.junit import SEPARATOR, identity_parse

BUG_KEY = re.compile(r"^BUG-[0-9]{3,9}$")


def bug_key_validate(key: str) -> str:
    """Normalise and check a bug key (``BUG-007``); raise a 400 DomainError when it is malformed."""
    normal = key.strip().upper()
    if not BUG_KEY.match(normal):
        raise DomainError(f"{key!r} is not a bug key like BUG-007.", code="INVALID_BUG_KEY", details={"key": key[:40]})
    return normal


# A node id is a relative path to a .py file, then ::-separated names and an optional [parameter id].
_NODE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*\.py$")
_NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^\x00-\x1f\x7f]*\])?$")


def node_id_validate(node_id: str) -> str:
    """Return the node id when it is a well-formed pytest node id, else raise a 400 DomainError."""
    value = node_id.strip() if isinstance(node_id, str) else ""
    path, _, rest = value.partition("::")
    parts = rest.split("::") if rest else []
    ok = (
        0 < len(value) <= 1000
        and _NODE_PATH.match(path) is not None
        and ".." not in path.split("/")
        and all(_NODE_NAME.match(part) for part in parts)
    )
    if not ok:
        raise DomainError("Not a valid pytest node id.", code="INVALID_NODE_ID", details={"node_id": str(node_id)[:200]})
    return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_node_id(text: str) -> bool:
    """Whether the text is a pytest node id, which pytest can be asked to run."""
    try:
        node_id_validate(text)
    except DomainError:
        return False
    return True


# A pytest node id as a link: like a runnable one, but the last name's parameter id may hold anything
# a line can, ``::`` included (pytest itself cannot be asked to run such an id, but reports it).
_LINKED_NODE = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_./-]*\.py)((::[A-Za-z_][A-Za-z0-9_]*)+(\[[^\x00-\x1f\x7f]*\])?)?$")


def _is_linkable_node_id(value: str) -> bool:
    match = _LINKED_NODE.match(value)
    return match is not None and len(value) <= 1000 and ".." not in match.group(1).split("/")


def test_link_validate(text: str) -> str:
    """Return the text when a bug can link it, else raise a 400 DomainError.

    A bug links a pytest node id or the text form of another tool's test identity
    (``bugs.junit.identity_text``, read back by ``identity_parse``): what the CI shows, with no invented
    Python path. Only pytest node ids can be run here (``node_id_validate``); every link is matched
    against imported results.
    """
    value = text.strip() if isinstance(text, str) else ""
    if is_node_id(value) or _is_linkable_node_id(value):
        return value
    # A lone path to a Python file is pytest's module node id or nothing (a glob of test files is no test).
    lone_python_file = SEPARATOR not in value and value.endswith(".py")
    ok = 0 < len(value) <= 1000 and not _CONTROL.search(value) and not lone_python_file
    if ok:
        try:
            identity = identity_parse(value)
        except ValueError:
            ok = False
        else:
            # Tools write files relative to the project or absolute; a path that climbs out of it is no test's.
            parts = (identity.scope, identity.classname, identity.name)
            ok = not any(".." in re.split(r"[/\\]", part) for part in parts)
    if not ok:
        raise DomainError(
            "Not a pytest node id nor the text form of a test identity (scope::classname::name).",
            code="INVALID_NODE_ID",
            details={"node_id": str(text)[:200]},
        )
    return value


def validate_test_link(value: str) -> None:
    """``test_link_validate`` as a form and serializer field validator."""
    try:
        test_link_validate(value)
    except DomainError as exc:
        raise ValidationError(str(exc), code="invalid_test_link") from exc


test_link_validate.__test__ = False  # type: ignore[attr-defined]  # a validator, whatever pytest's collector thinks of the name
