"""JUnit XML as the tools write it, read into results that keep the identity each tool gave.

What counts (Jenkins and most dashboards count the same way):
- every ``<testcase>`` element is one result, at any depth of nested ``<testsuite>`` elements; a testcase
  that repeats an identity already seen in the file (TestNG data providers, Jenkins fixtures, gotestsum's
  ``--rerun-fails``) gets an ordinal, ``[#2]``, so that none is lost;
- the worst of a testcase's result children wins: failure > error > skipped > passed. A failure is the
  test's own verdict; an error beside it is about its harness (a teardown), so the failure is what the
  result is known for. Both count as failing everywhere, and every child's message is kept;
- only a tool's explicit rerun elements nested in a testcase are attempts of that test (Surefire and
  cargo-nextest): ``flakyFailure``/``flakyError`` are failed attempts before a final pass (flaky),
  ``rerunFailure``/``rerunError`` failed attempts after a final failure (its failures confirmed).

Identity: a testcase of pytest's own report keeps pytest's node id (see ``_is_pytest``); any other keeps
(scope, classname, name, ordinal) where the scope is the testcase's file, else its suite's file, else its
suite's name, and is left out when it only repeats the classname (Surefire, Gradle, Go and nextest name
the suite after the class) or, with no classname, the name (Bazel names both after the test). Its text
form is ``identity_text``; ``identity_parse`` reads it back.

The parse is lxml's streaming iterparse: linear in the size of the file whatever its shape (a 16 MB
attribute included), with each finished testcase freed. A DOCTYPE is refused before anything in it can be
used, entities are never resolved and nothing is fetched from the network.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from lxml import etree  # type: ignore[import-untyped]

from bugs.parsers import MESSAGE_MAX, TRACEBACK_MAX, ParsedResult, ReportFormatError, clip, duration_seconds

JUNIT_ROOTS = ("testsuites", "testsuite")
_OUTCOME_OF = {"failure": "failed", "error": "error", "skipped": "skipped"}
_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "error": 2, "failed": 3}
_FLAKY_TAGS = ("flakyFailure", "flakyError")
_RERUN_TAGS = ("rerunFailure", "rerunError")

# --- the text form of an identity ------------------------------------------------------------------

SEPARATOR = "::"
EMPTY_NAME = '""'
_ORDINAL = re.compile(r"\[#([1-9][0-9]*)\]$")


@dataclass(frozen=True)
class TestIdentity:
    """A test as its tool named it: where it lives (scope), its classname and name, and which repeat."""

    __test__ = False  # not a test class, whatever pytest's collector thinks of the name

    scope: str = ""
    classname: str = ""
    name: str = ""
    ordinal: int = 1


def _escape(part: str) -> str:
    if ":" not in part and "\\" not in part:
        return part
    # A colon is escaped when it could join another into a separator: before a colon, or last.
    out = []
    for i, char in enumerate(part):
        if char == "\\":
            out.append("\\\\")
        elif char == ":" and (i + 1 == len(part) or part[i + 1] == ":"):
            out.append("\\:")
        else:
            out.append(char)
    return "".join(out)


def identity_text(identity: TestIdentity) -> str:
    """The one text form of a test identity: ``scope::classname::name[#n]``.

    - ``\\`` is written ``\\\\``, and a ``:`` that could read as part of a separator (followed by ``:``
      or ending its part) is written ``\\:``; the name is escaped the same way;
    - an empty scope is left out (``classname::name``); so is an empty classname when the scope is empty
      too (``name``); a scope with an empty classname keeps both separators (``scope::::name``);
    - an empty name is written ``""`` (a name that is literally ``""`` starts with ``\\"``), so a text never
      ends with a separator;
    - the n-th repeat of an identity in one report ends with ``[#n]`` from n = 2; a name that itself ends
      like that has its ``[`` escaped.
    """
    return _text(identity.scope, identity.classname, identity.name, identity.ordinal)


def _text(scope: str, classname: str, name_part: str, ordinal: int) -> str:
    # The parts as plain arguments: the reader builds one per testcase, without a TestIdentity.
    name = _escape(name_part) if name_part else EMPTY_NAME
    if name_part == EMPTY_NAME:
        name = "\\" + name
    elif name[-1] == "]" and _ORDINAL.search(name):
        name = name[: name.rindex("[")] + "\\" + name[name.rindex("[") :]
    if ordinal > 1:
        name += f"[#{ordinal}]"
    if scope:
        return SEPARATOR.join([_escape(scope), _escape(classname), name])
    if classname:
        return SEPARATOR.join([_escape(classname), name])
    return name


def identity_parse(text: str) -> TestIdentity:
    """Read the text form written by ``identity_text``; raise ValueError for a text it cannot have written."""
    body, ordinal = text, 1
    match = _ORDINAL.search(text)
    if match and not _escaped_at(text, match.start()):
        body, ordinal = text[: match.start()], int(match.group(1))
    raw = _split_raw(body)
    if len(raw) > 3:
        raise ValueError("A test identity has at most three parts: scope::classname::name.")
    *head, raw_name = raw
    name = "" if raw_name == EMPTY_NAME else _unescape(raw_name)
    scope, classname = (["", "", *(_unescape(part) for part in head)])[-2:]
    identity = TestIdentity(scope=scope, classname=classname, name=name, ordinal=ordinal)
    # Every text has one reading; one that identity_text would not write (an empty part left in, a
    # needless escape, [#1]) is refused rather than guessed at.
    if identity_text(identity) != text:
        raise ValueError(f"Not the text form of a test identity: {text[:200]!r}.")
    return identity


def _split_raw(text: str) -> list[str]:
    """The parts between unescaped separators, still escaped."""
    parts, start, i = [], 0, 0
    while i < len(text):
        if text[i] == "\\":
            if i + 1 == len(text):
                raise ValueError("A test identity cannot end with a lone backslash.")
            i += 2
        elif text.startswith(SEPARATOR, i):
            parts.append(text[start:i])
            start = i = i + 2
        else:
            i += 1
    return [*parts, text[start:]]


def _unescape(part: str) -> str:
    return re.sub(r"\\(.)", r"\1", part, flags=re.DOTALL)


def _escaped_at(text: str, index: int) -> bool:
    backslashes = len(text[:index]) - len(text[:index].rstrip("\\"))
    return backslashes % 2 == 1


# --- pytest's own reports --------------------------------------------------------------------------

_CLASS_PART = re.compile(r"^[A-Z]")
_PYTHON_DOTTED = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$")
# A test function or method (a doctest's dotted name too), with pytest's parameter id in brackets.
_PYTEST_NAME = re.compile(r"^[A-Za-z_][\w.]*(\[.*\])?$", re.DOTALL)


def _is_pytest(in_pytest_suite: bool, classname: str, name: str, file: str) -> bool:
    """Whether a testcase is one of pytest's own, whose node id can be rebuilt without invention.

    The report must be pytest's (root ``<testsuites name="pytest tests">`` or a ``<testsuite
    name="pytest">``, the names pytest writes), the name a Python name with an optional ``[parameter id]``,
    the classname a dotted Python path (or empty, for a collection error of a module whose dotted path is
    the name), and ``file=`` a ``.py`` file.
    """
    if not in_pytest_suite or not _PYTEST_NAME.match(name):
        return False
    return _pytest_shaped(classname or name, file)


@functools.lru_cache(maxsize=4096)
def _pytest_shaped(dotted: str, file: str) -> bool:
    # Cached: every test of a module or class asks with the same classname.
    return bool(_PYTHON_DOTTED.match(dotted)) and (not file or file.endswith(".py"))


def node_id_from_junit(classname: str, name: str, file: str | None) -> str:
    """Rebuild pytest's node id from one of pytest's own JUnit testcases.

    pytest writes the module path dotted (``pkg.tests.test_x``) followed by class names. With ``file=``
    (``junit_family=xunit1``) the module's part of the classname is known; without it, classes are told
    apart by their capital letter, as pytest's ``Test*`` convention makes them.
    """
    if not classname.strip("."):  # a collection error: the name is the module
        return file.replace("\\", "/") if file else name.replace(".", "/") + ".py"
    return f"{_pytest_prefix(classname, file or '')}{SEPARATOR}{name}"


@functools.lru_cache(maxsize=4096)
def _pytest_prefix(classname: str, file: str) -> str:
    """The node id's path and classes for a classname: the same for every test of a class, so computed once."""
    parts = [p for p in classname.split(".") if p]
    first_class = next((i for i, p in enumerate(parts) if i and _CLASS_PART.match(p)), len(parts))
    if file:
        path = file.replace("\\", "/")
        module_parts = path.removesuffix(".py").split("/")
        split = len(module_parts) if parts[: len(module_parts)] == module_parts else first_class
    else:
        split = first_class
        path = "/".join(parts[:split]) + ".py"
    return SEPARATOR.join([path, *parts[split:]])


# --- the reader --------------------------------------------------------------------------------------


@dataclass
class _Suite:
    name: str
    file: str
    pytest: bool


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child_text(child: Any) -> str:
    """A result child's text: its own, or its ``<stackTrace>`` (Surefire's rerun elements)."""
    text = child.text or ""
    for grandchild in child:
        if _local(grandchild.tag) == "stackTrace":
            text += grandchild.text or ""
    return text.strip()


def _result(element: Any, suite: _Suite, seen: dict[str, int]) -> ParsedResult:
    # The attributes in one call to lxml rather than one per attribute.
    attributes = dict(element.items())
    get = attributes.get
    classname = (get("classname") or get("class") or "").strip()
    name = (get("name") or "").strip()
    file = (get("file") or "").strip()
    line = get("line")
    outcome, messages, tracebacks, flaky, reruns = "passed", [], [], 0, 0
    for child in element if len(element) else ():
        tag = _local(child.tag)
        if tag in _OUTCOME_OF:
            found = "xfailed" if child.get("type") == "pytest.xfail" else _OUTCOME_OF[tag]
            if _RANK[found] > _RANK[outcome]:
                outcome = found
        elif tag in _FLAKY_TAGS:
            flaky += 1
        elif tag in _RERUN_TAGS:
            reruns += 1
        else:
            continue
        text = _child_text(child)
        # Without a message= (jest-junit, CTest), the first line of the text is the message.
        message = (child.get("message") or "").strip() or text.partition("\n")[0].strip()
        if message:
            messages.append(message if tag in _OUTCOME_OF else f"{tag}: {message}")
        if text:
            tracebacks.append(text)
    if _is_pytest(suite.pytest, classname, name, file):
        kind, node_id, scope = "pytest", node_id_from_junit(classname, name, file or None), file
    else:
        scope = file or suite.file or suite.name
        redundant = scope == classname or (not classname and scope == name)
        kind, node_id = "junit", _text("" if redundant else scope, classname, name, 1)
    base, ordinal = node_id, seen.get(node_id, 0) + 1
    seen[base] = ordinal
    if ordinal > 1:
        # A pytest parameter id can itself read "[#2]"; skip past any node id already given out.
        while f"{base}[#{ordinal}]" in seen:
            ordinal += 1
        seen[base] = ordinal
        node_id = f"{base}[#{ordinal}]"
        seen[node_id] = 1
    return ParsedResult(
        node_id=node_id,
        outcome=outcome,
        duration_seconds=duration_seconds(get("time")),
        # The first run plus every rerun the tool wrote: for a final failure, all of them failed.
        attempts=1 + flaky + reruns,
        # flaky* elements say a later attempt passed, even when the tool then failed the test for it.
        is_flaky=flaky > 0 or (reruns > 0 and outcome == "passed"),
        message=clip("\n".join(messages), MESSAGE_MAX) if messages else "",
        traceback=clip("\n\n".join(tracebacks), TRACEBACK_MAX) if tracebacks else "",
        kind=kind,
        suite=suite.name,
        scope=scope,
        classname=classname,
        name=name,
        file=file,
        # Only a plain number: int() of thousands of digits raises, and a line past 10^9 is not one.
        line=int(line) if line and line.isascii() and line.isdigit() and len(line) < 10 else None,
        ordinal=ordinal,
    )


def _iterparse(stream: IO[bytes], events: tuple[str, ...]) -> Any:
    # No DTD is loaded, no entity resolved, nothing fetched; huge_tree lifts the 10 MB text limit, not
    # the depth limit (2048), and keeps the parse linear in the length of one attribute.
    return etree.iterparse(
        stream, events=events, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, remove_comments=True
    )


def junit_check(stream: IO[bytes]) -> None:
    """Refuse at once what the root tells: a DOCTYPE, an unknown encoding, a root that is not JUnit's."""
    try:
        for _event, element in _iterparse(stream, ("start",)):
            _check_root(element, element.tag.rpartition("}")[2])
            return
    except etree.XMLSyntaxError as exc:
        raise ReportFormatError(f"The XML is malformed: {exc}") from exc
    raise ReportFormatError("The XML has no root element.")


def iter_junit(stream: IO[bytes]) -> Iterator[ParsedResult]:
    """Yield one result per ``<testcase>``; raise ReportFormatError when the XML is not JUnit or is hostile."""
    context = _iterparse(stream, ("start", "end"))
    suites: list[_Suite] = []
    seen: dict[str, int] = {}
    depth = inside_testcase = 0
    try:
        for event, element in context:
            tag = element.tag
            if tag[0] == "{":
                tag = tag.rpartition("}")[2]
            if event == "start":
                if depth == 0:
                    _check_root(element, tag)
                depth += 1
                if tag == "testcase":
                    inside_testcase += 1
                elif tag in JUNIT_ROOTS and not inside_testcase:
                    name = (element.get("name") or "").strip()
                    pytest = (bool(suites) and suites[-1].pytest) or name == "pytest" or (depth == 1 and name == "pytest tests")
                    suites.append(_Suite(name=name, file=(element.get("file") or "").strip(), pytest=pytest))
                continue
            depth -= 1
            if tag == "testcase":
                inside_testcase -= 1
                if inside_testcase:
                    continue  # a testcase nested in a testcase is not one any tool writes: part of its parent
                yield _result(element, suites[-1], seen)
            elif inside_testcase:
                continue  # a result child, or something in one: read with its testcase
            elif tag in JUNIT_ROOTS:
                suites.pop()
            # Free what is read: the element, and the finished siblings before it.
            element.clear()
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise ReportFormatError(f"The XML is malformed: {exc}") from exc


def _check_root(root: Any, tag: str) -> None:
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise ReportFormatError("The XML uses a DTD, entities or external references, which are refused.")
    if tag not in JUNIT_ROOTS:
        raise ReportFormatError(f"The XML's root element is <{tag}>, not JUnit's <testsuites> or <testsuite>.")


def parse_junit(stream: IO[bytes]) -> list[ParsedResult]:
    """Read JUnit XML (pytest's or any CI's) into results; raise ReportFormatError when it is not one."""
    return list(iter_junit(stream))
