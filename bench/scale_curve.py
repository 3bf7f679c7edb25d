"""The P11 scale curve as an SVG beside results.json: p95 per retrieval mode and database against the
number of episodes, on log-log axes (a slope below one is sub-linear growth)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

SVG_NAME = "p11-scale-curve.svg"
# The metric names P11 gives its points (bench/p11_scale_curve.py writes them with POINT_METRIC).
POINT_METRIC = "{mode} p95 at {episodes} episodes"
_POINT = re.compile(r"^(?P<mode>.+) p95 at (?P<episodes>\d+) episodes$")


def curve_points(results: Iterable[Mapping[str, object]]) -> dict[str, list[tuple[int, float]]]:
    """``"<mode>, <database>"`` -> [(episodes, p95 ms)] in episode order, from P11's result records."""
    series: dict[str, list[tuple[int, float]]] = {}
    for record in results:
        match = _POINT.match(str(record["metric"])) if record.get("id") == "P11" else None
        if match is None:
            continue
        value = record["value"]
        assert isinstance(value, int | float)
        series.setdefault(f"{match['mode']}, {record['database']}", []).append((int(match["episodes"]), float(value)))
    return {name: sorted(points) for name, points in sorted(series.items())}


def scale_curve_write(results: Iterable[Mapping[str, object]], directory: Path) -> Path | None:
    """Draw the curve into ``directory``; None (and nothing written) when the results hold no P11 point."""
    import pygal  # type: ignore[import-untyped]

    series = curve_points(results)
    if not series:
        return None
    chart = pygal.XY(
        title="P11 retrieval p95 (governed + logged) by episodes of one agent",
        x_title="episodes (log)",
        y_title="p95 ms (log)",
        logarithmic=True,
        dots_size=4,
        width=720,
        height=420,
        legend_at_bottom=True,
        # pygal would otherwise reference its tooltip script on a CDN.
        js=[],
    )
    for name, points in series.items():
        chart.add(name, points)
    path = directory / SVG_NAME
    path.write_bytes(chart.render())
    return path
