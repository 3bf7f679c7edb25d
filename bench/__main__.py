"""Run the benchmarks: ``python -m bench [--only P4] [--database sqlite|postgresql|all]``.

Every benchmark runs in a child process per database; results are printed as a table and written to
var/bench/results.json. A benchmark never fails the command on a time: only a crash does.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

from bench.harness import BENCH_DIR
from bench.scale_curve import scale_curve_write


def _modules() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name[:1] == "p" and "_" in m.name)


def _run_child(module: str, database: str, scale: float) -> list[dict[str, object]]:
    from bench.harness import django_setup, postgres_drop_bench_database

    django_setup(database)
    try:
        bench = importlib.import_module(f"bench.{module}")
        return [result.as_dict() for result in bench.run(scale)]
    finally:
        postgres_drop_bench_database()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", help="run only the benchmark with this id, e.g. P4")
    parser.add_argument("--database", default="all", choices=["sqlite", "postgresql", "all"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    scale = float(os.environ.get("BENCH_SCALE", "1.0"))
    if args.child:
        print(json.dumps(_run_child(args.child, args.database, scale)))
        return 0
    databases = ["sqlite", "postgresql"] if args.database == "all" else [args.database]
    if "postgresql" in databases and not os.environ.get("DATABASE_URL"):
        print("DATABASE_URL is not set: PostgreSQL benchmarks skipped.")
        databases = [d for d in databases if d != "postgresql"]
    results: list[dict[str, object]] = []
    failed = False
    for module in _modules():
        if args.only and not module.upper().startswith(args.only.upper() + "_"):
            continue
        for database in databases:
            proc = subprocess.run(
                [sys.executable, "-m", "bench", "--child", module, "--database", database],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                failed = True
                print(f"{module} on {database} crashed:\n{proc.stderr[-3000:]}")
                continue
            results.extend(json.loads(proc.stdout.strip().splitlines()[-1]))
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2))
    curve = scale_curve_write(results, BENCH_DIR)
    header = f"{'id':<4} {'database':<10} {'metric':<44} {'value':>12} {'unit':<8} {'baseline':>10} {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for r in results:
        baseline = "" if r["baseline"] is None else f"{r['baseline']:.4g}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3g}"
        value = f"{r['value']:.4g}"
        print(f"{r['id']:<4} {r['database']:<10} {r['metric']:<44} {value:>12} {r['unit']:<8} {baseline:>10} {ratio:>7}  {r['target']}")
    if curve is not None:
        print(f"P11 scale curve drawn in {curve}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
