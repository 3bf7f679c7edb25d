"""A canvas drawn for people, on the server: Markdown through markdown-it-py then nh3, a chart from its
JSON spec as an SVG by pygal (no script in it), a form read-only. Only the canvas's own script, inside
the sandboxed frame (governance.canvas_frame), ever runs.

A chart's spec::

    {"type": "bar" | "line" | "pie" | "horizontal_bar", "title": "…", "labels": ["Mon", …],
     "series": [{"name": "passed", "values": [3, 4, …]}, …]}

(``series`` may also be an object of name → values). Text is cut to size and stripped of control
characters; values that are not numbers are drawn as gaps. pygal writes the SVG through an XML library,
so labels are escaped.
"""

from __future__ import annotations

import html
import math
import unicodedata
from dataclasses import dataclass
from typing import Any

import pygal  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]
from pygal.style import Style  # type: ignore[import-untyped]

from atom.markup import markdown_html
from governance.models import Canvas, CanvasKind

MAX_SERIES = 20
MAX_POINTS = 500
MAX_FIELDS = 100
_TEXT_MAX = 200
_CHARTS = {"bar": pygal.Bar, "line": pygal.Line, "pie": pygal.Pie, "horizontal_bar": pygal.HorizontalBar}
_STYLE = Style(background="white", plot_background="white", font_family="system-ui, sans-serif")


def _text(value: Any, limit: int = _TEXT_MAX) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return "".join(char for char in text if unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp"))[:limit]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _series(spec: dict[str, Any]) -> list[tuple[str, list[float | None]]]:
    raw = spec.get("series")
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = [(entry.get("name"), entry.get("values")) for entry in raw if isinstance(entry, dict)]
    else:
        items = []
    series = []
    for name, values in items[:MAX_SERIES]:
        points = [_number(value) for value in values[:MAX_POINTS]] if isinstance(values, list) else []
        series.append((_text(name) or "series", points))
    return series


def chart_svg(spec: Any) -> str:
    """The chart of ``spec`` as an inline SVG document (no script)."""
    spec = spec if isinstance(spec, dict) else {}
    chart_class = _CHARTS.get(spec.get("type") if isinstance(spec.get("type"), str) else "", pygal.Bar)
    chart = chart_class(style=_STYLE, js=[], width=800, height=400, explicit_size=True, disable_xml_declaration=True)
    chart.title = _text(spec.get("title")) or None
    labels = spec.get("labels")
    if isinstance(labels, list):
        chart.x_labels = [_text(label, 60) for label in labels[:MAX_POINTS]]
    series = _series(spec)
    if chart_class is pygal.Pie:
        for name, points in series:
            chart.add(name, sum(point for point in points if point is not None))
    else:
        for name, points in series:
            chart.add(name, points)
    return _without_scripts(chart.render(is_unicode=True))


def _without_scripts(svg: str) -> str:
    """pygal always embeds its configuration as a script: the SVG is shown without any."""
    root = etree.fromstring(svg.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    for script in root.iter("{http://www.w3.org/2000/svg}script", "script"):
        parent = script.getparent()
        if parent is not None:
            parent.remove(script)
    return etree.tostring(root, encoding="unicode")


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str  # text, number, checkbox, select, textarea
    value: str
    required: bool
    description: str
    choices: list[str]


def form_fields(schema: Any) -> list[FormField]:
    """A JSON schema's properties as read-only fields, in the schema's order."""
    schema = schema if isinstance(schema, dict) else {}
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
    fields = []
    for name, prop in list(properties.items())[:MAX_FIELDS]:
        prop = prop if isinstance(prop, dict) else {}
        kind = {"integer": "number", "number": "number", "boolean": "checkbox"}.get(str(prop.get("type")), "text")
        choices = [_text(choice, 100) for choice in prop.get("enum", [])[:100]] if isinstance(prop.get("enum"), list) else []
        if choices:
            kind = "select"
        elif prop.get("format") == "textarea" or (isinstance(prop.get("maxLength"), int) and prop["maxLength"] > 200):
            kind = "textarea"
        default = prop.get("default")
        fields.append(
            FormField(
                name=_text(name, 100),
                label=_text(prop.get("title")) or _text(name, 100),
                kind=kind,
                value="on" if default is True else ("" if default in (None, False) else _text(default, 2000)),
                required=name in required,
                description=_text(prop.get("description"), 500),
                choices=choices,
            )
        )
    return fields


@dataclass(frozen=True)
class RenderedCanvas:
    markdown_html: str = ""
    chart_svg: str = ""
    form_title: str = ""
    form: list[FormField] | None = None


def canvas_render(canvas: Canvas) -> RenderedCanvas:
    """What the frame shows for ``canvas``, by kind (HTML canvases are stored sanitized and shown as such)."""
    if canvas.kind == CanvasKind.MARKDOWN:
        # The source was stored HTML-sanitized, its "<" and "&" written as entities; Markdown would show those
        # entities literally in code (BUG-132). Given back, they are text again: the renderer escapes every
        # tag (raw HTML off) and nh3 sanitizes its output.
        return RenderedCanvas(markdown_html=markdown_html(html.unescape(canvas.content)))
    if canvas.kind == CanvasKind.CHART:
        return RenderedCanvas(chart_svg=chart_svg(canvas.data))
    if canvas.kind == CanvasKind.FORM:
        data = canvas.data if isinstance(canvas.data, dict) else {}
        return RenderedCanvas(form_title=_text(data.get("title")), form=form_fields(canvas.data))
    return RenderedCanvas()
