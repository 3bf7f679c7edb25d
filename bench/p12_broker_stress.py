"""P12: the embedded broker under load: three producer processes, two workers and beat for ten minutes.

Not a timing target but a correctness one, measured long enough to meet the race of kombu issue 1551
(it struck about three minutes in, one start in three): zero crashes, zero lost messages, zero
duplicates after acknowledgement. ``BENCH_SCALE`` scales the duration (0.1 = one minute). The broker
does not depend on the database, so it runs once, beside SQLite.
"""

from __future__ import annotations

from django.db import connection

from bench.broker_stress import stress
from bench.harness import BENCH_DIR, Result

ID = "P12"
SECONDS = 600


def run(scale: float) -> list[Result]:
    if connection.vendor != "sqlite":
        return []
    figures = stress(seconds=SECONDS * scale, producers=3, consumers=2, root=BENCH_DIR / "broker-stress")
    expected = figures["sent"] + figures["beat_sent"]

    def result(metric: str, value: float, unit: str, target: str) -> Result:
        return Result(id=ID, metric=metric, value=value, unit=unit, target=target, database="sqlite", scale=scale)

    return [
        result("messages executed", figures["executed"], "msgs", f"= sent ({expected})"),
        result("throughput", figures["throughput"], "msg/s", "(informative)"),
        result("lost messages", figures["lost"] + figures["beat_lost"], "msgs", "0"),
        result("duplicates after ack", figures["duplicates"], "msgs", "0"),
        result("crashed processes", figures["crashes"], "procs", "0"),
    ]
