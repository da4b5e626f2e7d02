"""Scoring alone: the declarative scheme engine (plugins/schemes) on N employees × 15 indicators,
with metric values made up in memory — no store, no connectors.

    python bench/scoring.py [--employees 100000] [--repeat 3] [--json]

The scheme is bench/scheme.toml's four dimensions widened to 15 indicators of every common kind
(bands, per occurrence with floor and lost_at, condition, pro rata), with role weights, grades and
pay. Prints the seconds per run (and the median), the rate and peak RSS; with --json the last line
is one JSON object with at least seconds, employees, indicators, peak_rss_mb."""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

SCHEME = (Path(__file__).resolve().parent / "scheme.toml").read_text(encoding="utf-8")

# Four more indicators on top of bench/scheme.toml's eleven, in a fifth dimension.
EXTRA = """
[[dimension]]
id = "extra"
name = { zh = "附加", en = "Extra" }
max = 20

  [[dimension.indicator]]
  id = "handling"
  name = { zh = "平均处理时长", en = "Mean resolution hours" }
  metric = "full_resolution_hours"
  rule = "bands"
  bands = [ { le = 4, points = 5 }, { gt = 4, le = 8, points = 3 }, { gt = 8, points = 0 } ]

  [[dimension.indicator]]
  id = "one_touch"
  name = { zh = "一次解决率", en = "One-touch rate" }
  metric = "one_touch_rate"
  rule = "pro_rata"
  full_at = 80
  points = 5

  [[dimension.indicator]]
  id = "serious"
  name = { zh = "严重投诉", en = "Serious complaints" }
  metric = "serious_complaints"
  rule = "per_occurrence"
  start = 5
  each = -5
  floor = 0

  [[dimension.indicator]]
  id = "leave"
  name = { zh = "请假", en = "Leave" }
  metric = "approved_leave_days"
  rule = "condition"
  when = { le = 2 }
  points = 5
"""


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


def scheme_text() -> str:
    return SCHEME.replace("total = 100", "total = 120") + EXTRA  # the extra dimension's 20 on top


def inputs(n: int, seed: int = 7):
    from kpi.core.models import Employee, MetricValue, Period
    rng = random.Random(seed)
    period = Period("2026-03", date(2026, 3, 1), date(2026, 3, 31))
    people, values = [], {}
    for i in range(n):
        emp = f"E{i + 1:06d}"
        people.append(Employee(emp, f"坐席{i + 1}", "资深客服" if rng.random() < 0.15 else "客服专员",
                               hire_date=date(2022, 1, 1)))
        figures = {
            "csat_rate": Decimal(rng.randint(7000, 10000)) / 100, "valid_complaints": rng.choice([0, 0, 0, 1, 2]),
            "late_normal_tickets": rng.randint(0, 20), "late_urgent_tickets": rng.randint(0, 6),
            "first_reply_minutes": Decimal(rng.randint(300, 6000)) / 100,
            "resolution_rate": Decimal(rng.randint(8500, 10000)) / 100,
            "reopen_rate": Decimal(rng.randint(0, 1500)) / 100, "tickets_handled": rng.randint(150, 250),
            "attendance_exceptions": rng.randint(0, 6), "absent_days": rng.choice([0, 0, 0, 0, 1, 2]),
            "full_resolution_hours": Decimal(rng.randint(100, 1200)) / 100,
            "one_touch_rate": Decimal(rng.randint(4000, 9500)) / 100,
            "serious_complaints": rng.choice([0, 0, 0, 0, 1]), "approved_leave_days": rng.randint(0, 4),
        }
        values[emp] = {m: MetricValue(emp, period.label, m, Decimal(v), "bench", {}) for m, v in figures.items()}
    return period, people, values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from kpi.core.plugins import make_host
    from kpi.core.scoring import ScoringContext
    host = make_host(load_entrypoints=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scoring.toml"
        path.write_text(scheme_text(), encoding="utf-8")
        scheme = host.load_scheme(path)
    indicators = sum(len(d.indicators) for d in scheme.dimensions)
    period, people, values = inputs(args.employees)
    out = sys.stderr if args.json else sys.stdout
    times = []
    for i in range(args.repeat):
        started = time.perf_counter()
        cards = scheme.score(ScoringContext(period, people, values, {}))
        times.append(time.perf_counter() - started)
        print(f"run {i + 1}: {times[-1]:.2f} s for {len(cards):,} scorecards", file=out)
        del cards
    median = statistics.median(times)
    result = {"employees": args.employees, "indicators": indicators, "seconds": round(median, 3),
              "runs": [round(t, 3) for t in times], "per_employee_us": round(median / args.employees * 1e6, 1),
              "peak_rss_mb": peak_rss_mb()}
    print(f"{args.employees:,} employees × {indicators} indicators: median {median:.2f} s "
          f"({result['per_employee_us']} µs each), peak RSS {result['peak_rss_mb']} MiB", file=out)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
