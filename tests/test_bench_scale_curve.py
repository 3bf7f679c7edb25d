"""P11 runs end to end at a tiny scale: its figures land in results.json and its curve in an SVG beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from bench.p11_scale_curve import sizes_for
from bench.scale_curve import SVG_NAME, curve_points

BASE_DIR = Path(__file__).resolve().parent.parent


def test_the_curve_has_10k_and_100k_points_and_1m_from_scale_10():
    assert sizes_for(1.0) == [10_000, 100_000]
    assert sizes_for(10.0) == [10_000, 100_000, 1_000_000]
    assert sizes_for(0.1) == [1_000, 10_000]


def test_the_scale_curve_benchmark_writes_its_results_and_an_svg(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ATOM_") and key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update({"ATOM_BENCH_DIR": str(tmp_path), "BENCH_SCALE": "0.01"})
    finished = subprocess.run(  # nosec B603 - this interpreter, on the benchmark runner
        [sys.executable, "-m", "bench", "--only", "P11", "--database", "sqlite"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout + finished.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    metrics = {record["metric"] for record in results}
    assert {"temporal p95 growth 1000 vs 100 episodes", "semantic top-10 p95 growth 1000 vs 100 episodes"} <= metrics
    assert {"semantic recall@10 vs exact at 100 episodes", "semantic index cold load at 1000 episodes"} <= metrics
    assert all(record["id"] == "P11" and record["database"] == "sqlite" for record in results)
    growth = next(record for record in results if record["metric"].startswith("temporal p95 growth"))
    assert growth["ratio"] == growth["value"] / growth["baseline"]
    assert curve_points(results) == {
        "semantic top-10, sqlite": [(100, _p95(results, "semantic top-10", 100)), (1000, _p95(results, "semantic top-10", 1000))],
        "temporal, sqlite": [(100, _p95(results, "temporal", 100)), (1000, _p95(results, "temporal", 1000))],
    }
    svg = ElementTree.parse(tmp_path / SVG_NAME).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    text = "".join(svg.itertext())
    assert "temporal, sqlite" in text
    assert "semantic top-10, sqlite" in text
    # Nothing is fetched from elsewhere when the SVG is opened (pygal's inline config script loads nothing).
    raw = (tmp_path / SVG_NAME).read_text()
    assert 'href="http' not in raw
    assert " src=" not in raw


def _p95(results: list[dict[str, object]], mode: str, episodes: int) -> float:
    value = next(record["value"] for record in results if record["metric"] == f"{mode} p95 at {episodes} episodes")
    assert isinstance(value, float)
    return value
