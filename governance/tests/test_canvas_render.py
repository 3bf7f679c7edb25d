"""Canvases drawn on the server: Markdown rendered then sanitized, charts as SVG without script whatever
their labels hold, forms read-only from their schema."""

from __future__ import annotations

import pytest
from lxml import etree  # type: ignore[import-untyped]

from governance.canvas_render import canvas_render, chart_svg, form_fields
from governance.models import Canvas, CanvasKind
from governance.sanitize import canvas_markdown_sanitize

SVG = "{http://www.w3.org/2000/svg}"


def _markdown(source: str) -> str:
    # Stored as the present_markdown action stores it: sanitized on the way in.
    return canvas_render(Canvas(kind=CanvasKind.MARKDOWN, content=canvas_markdown_sanitize(source))).markdown_html


def test_markdown_is_rendered_and_its_html_stays_text():
    html = _markdown("# Title\n\n**bold** <script>alert(1)</script> [x](javascript:alert(1))")
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert "<script" not in html
    assert 'href="javascript' not in html


@pytest.mark.regression("BUG-132")
def test_p3_quality_code_in_a_markdown_canvas_shows_escaped_entities_regression():
    html = _markdown("Use `a < b && c` here:\n\n    if x > 1 and y < 2: pass\n")
    # What a browser shows is the code as written: "<" drawn from "&lt;", never the text "&lt;" itself.
    assert "<code>a &lt; b &amp;&amp; c</code>" in html
    assert "if x &gt; 1 and y &lt; 2: pass" in html
    assert "&amp;lt;" not in html


def test_a_chart_is_an_svg_without_script_and_its_labels_are_text():
    svg = chart_svg({"type": "line", "title": "<script>alert(1)</script>", "labels": ["<img src=x>", "b"],
                     "series": [{"name": "\"><svg onload=alert(1)>", "values": [1, "x", float("nan")]}]})  # fmt: skip
    root = etree.fromstring(svg.encode())
    assert not list(root.iter(f"{SVG}script"))
    assert not [name for element in root.iter() for name in element.attrib if name.lower().startswith("on")]
    texts = "".join(root.itertext())
    assert "<script>alert(1)</script>" in texts
    assert "<img src=x>" in texts


@pytest.mark.parametrize("spec", [None, [], {"type": "radar"}, {"series": "x"}, {"series": [{"values": "abc"}]}, {"labels": 3}])
def test_a_chart_spec_of_any_shape_draws_something(spec):
    assert chart_svg(spec).startswith("<svg")


def test_a_form_schema_becomes_read_only_fields_in_order():
    fields = form_fields(
        {
            "required": ["a"],
            "properties": {"a": {"type": "integer", "title": "A", "default": 3}, "b": {"enum": ["x", "y"]}, "c": {"type": "boolean"}},
        }
    )
    assert [(f.name, f.label, f.kind, f.value, f.required) for f in fields] == [
        ("a", "A", "number", "3", True),
        ("b", "b", "select", "", False),
        ("c", "c", "checkbox", "", False),
    ]
    assert form_fields("not a schema") == []
