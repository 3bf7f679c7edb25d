"""Shapes Atom accepts from outside for the bugs app: bug keys and pytest node ids."""

from __future__ import annotations

import re

from atom.errors import DomainError

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
