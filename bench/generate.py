"""A synthetic service centre for the benchmark: E agents in teams of 20, one month (2026-03) of
tickets, ratings, complaints and attendance day results, as CSV files, with a site.toml that reads
them through the real `csv` connector, scores them with bench/scheme.toml and writes a payroll file.

    python bench/generate.py --size small [--seed 7] [--out DIR]

Deterministic: the same size and seed always give the same bytes. Rows are written as they are
made (a ticket's rating and complaint beside it), so memory stays flat at any size."""

from __future__ import annotations

import argparse
import csv
import random
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEME = HERE / "scheme.toml"

SIZES = {  # agents, tickets
    "tiny": (50, 5_000),
    "small": (1_000, 200_000),
    "large": (10_000, 2_000_000),
    "deep": (1_000, 2_000_000),  # small's people with large's tickets: memory against the records alone
}
SEED = 7
YEAR, MONTH = 2026, 3
PERIOD = f"{YEAR}-{MONTH:02d}"
TIMEZONE = "Asia/Shanghai"
TEAM_SIZE = 20
CHANNELS = ("phone", "chat", "email", "web")
ROLES = (("客服专员", 0.85), ("资深客服", 0.15))  # the scheme's roles agent and senior, by their Chinese names
FILES = ("roster.csv", "tickets.csv", "ratings.csv", "complaints.csv", "attendance.csv")


def workdays(year: int, month: int) -> list[date]:
    d, out = date(year, month, 1), []
    while d.month == month:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def _stamp(base: datetime, seconds: int) -> str:
    return (base + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def generate(out: Path, size: str = "small", seed: int = SEED) -> dict:
    """Write the site into `out`; returns what was written (rows per file)."""
    agents, n_tickets = SIZES[size]
    rng = random.Random(f"{seed}:{size}")
    out.mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(FILES, 0)
    skill = [rng.random() for _ in range(agents)]

    with open(out / "roster.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["工号", "姓名", "岗位", "组别", "部门", "入职日期", "坐席ID", "考勤号"])
        for i in range(agents):
            role = ROLES[0][0] if rng.random() < ROLES[0][1] else ROLES[1][0]
            hired = date(2020, 1, 1) + timedelta(days=rng.randrange(0, 5 * 365))
            w.writerow([f"E{i + 1:05d}", f"坐席{i + 1:05d}", role, f"T{i // TEAM_SIZE + 1:03d}", "客户服务中心",
                        hired.isoformat(), f"A{i + 1:05d}", f"K{i + 1:05d}"])
        counts["roster.csv"] = agents

    month_start = datetime(YEAR, MONTH, 1)
    month_seconds = (datetime(YEAR + MONTH // 12, MONTH % 12 + 1, 1) - month_start).days * 86400
    with open(out / "tickets.csv", "w", encoding="utf-8", newline="") as ft, \
            open(out / "ratings.csv", "w", encoding="utf-8", newline="") as fr, \
            open(out / "complaints.csv", "w", encoding="utf-8", newline="") as fc:
        tw, rw, cw = (csv.writer(f, lineterminator="\n") for f in (ft, fr, fc))
        tw.writerow(["ticket_id", "agent_id", "created_at", "first_reply_at", "resolved_at", "reopens", "priority",
                     "channel"])
        rw.writerow(["rating_id", "agent_id", "rated_at", "result", "ticket_id"])
        cw.writerow(["complaint_id", "agent_id", "filed_at", "valid", "ticket_id"])
        rnd, randrange, expo = rng.random, rng.randrange, rng.expovariate
        for t in range(1, n_tickets + 1):
            a = randrange(agents)
            s = skill[a]
            agent = f"A{a + 1:05d}"
            tid = f"T{t:07d}"
            created = (t - 1) * month_seconds // n_tickets + randrange(60)  # in id order, as a helpdesk exports them
            urgent = rnd() < 0.1
            reply = "" if rnd() < 0.04 else _stamp(month_start, created + int(expo(1 / (300 + 3000 * (1 - s))) + 30))
            limit = 12 if urgent else 24
            if rnd() < 0.02:  # still open
                resolved_at, resolved = "", None
            else:
                late = rnd() < 0.01 + 0.08 * (1 - s) ** 2
                hours = limit * (1 + 2 * rnd()) if late else limit * 0.9 * rnd()
                resolved = created + int(hours * 3600) + 60
                resolved_at = _stamp(month_start, resolved)
            reopens = "" if rnd() < 0.02 else str(0 if rnd() >= 0.02 + 0.1 * (1 - s) else 1 + int(rnd() < 0.2))
            tw.writerow([tid, agent, _stamp(month_start, created), reply, resolved_at, reopens,
                         "urgent" if urgent else "normal", CHANNELS[randrange(4)]])
            if rnd() < 0.25:
                counts["ratings.csv"] += 1
                u = rnd()
                result = "" if u < 0.1 else "满意" if u < 0.1 + 0.9 * (0.8 + 0.19 * s) else "不满意"
                rated = (resolved if resolved is not None else created) + 600 + randrange(86400)
                rw.writerow([f"R{counts['ratings.csv']:07d}", agent, _stamp(month_start, rated), result, tid])
            if rnd() < 0.002 + 0.01 * (1 - s) ** 2:
                counts["complaints.csv"] += 1
                cw.writerow([f"C{counts['complaints.csv']:06d}", agent, _stamp(month_start, created + 3600 + randrange(172800)),
                             "是" if rnd() < 0.7 else "否", tid])
        counts["tickets.csv"] = n_tickets

    days = workdays(YEAR, MONTH)
    with open(out / "attendance.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["记录号", "考勤号", "日期", "结果", "迟到分钟"])
        for i in range(agents):
            s = skill[i]
            for d in days:
                r = rng.random()
                result = ("迟到" if r < 0.02 + 0.05 * (1 - s) else "早退" if r < 0.03 + 0.07 * (1 - s)
                          else "旷工" if r < 0.032 + 0.08 * (1 - s) ** 3 else "请假" if r < 0.06 + 0.07 * (1 - s) else "正常")
                w.writerow([f"K{i + 1:05d}-{d:%Y%m%d}", f"K{i + 1:05d}", d.isoformat(), result,
                            str(rng.randint(1, 60)) if result == "迟到" else ""])
                counts["attendance.csv"] += 1
    return counts


def site_toml(data: Path, store_url: str, output_dir: Path, scheme: Path = SCHEME) -> str:
    """The site's config: the csv connector over the generated files, the bench scheme, a payroll file."""
    def q(p: Path | str) -> str:
        return '"' + str(p).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"""# A synthetic service centre (bench/generate.py): the real csv connector, bench/scheme.toml, payroll_csv.
[site]
name = "Benchmark service centre"
timezone = "{TIMEZONE}"

[store]
url = {q(store_url)}

[period]
cycle = "monthly"
default = "{PERIOD}"

[identity]
unknown = "report"

[scheme]
file = {q(scheme)}

[[connector]]
name = "roster"
use = "csv"
kind = "employee"
path = {q(data / "roster.csv")}
columns = {{ employee_id = "工号", name = "姓名", role = "岗位", team = "组别", department = "部门", hire_date = "入职日期" }}
ids = {{ helpdesk = "坐席ID", attendance = "考勤号" }}

[[connector]]
name = "tickets"
use = "csv"
kind = "ticket"
path = {q(data / "tickets.csv")}
columns = {{ source_id = "ticket_id", person = "agent_id" }}

[[connector]]
name = "ratings"
use = "csv"
kind = "rating"
path = {q(data / "ratings.csv")}
columns = {{ source_id = "rating_id", person = "agent_id", good = "result" }}
value_map = {{ good = {{ "满意" = "true", "不满意" = "false" }} }}

[[connector]]
name = "complaints"
use = "csv"
kind = "complaint"
path = {q(data / "complaints.csv")}
columns = {{ source_id = "complaint_id", person = "agent_id" }}

[[connector]]
name = "attendance"
use = "csv"
kind = "attendance_day"
path = {q(data / "attendance.csv")}
columns = {{ source_id = "记录号", person = "考勤号", day = "日期", result = "结果", minutes_late = "迟到分钟" }}
value_map = {{ result = {{ "正常" = "normal", "迟到" = "late", "早退" = "early", "旷工" = "absent", "请假" = "leave" }} }}

[[exporter]]
name = "payroll"
use = "payroll_csv"
path = "payroll-{{period}}.csv"

[output]
dir = {q(output_dir)}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, help="the folder (default: bench-<size>-<seed> here)")
    args = parser.parse_args(argv)
    out = args.out or Path(f"bench-{args.size}-{args.seed}")
    counts = generate(out, args.size, args.seed)
    (out / "site.toml").write_text(site_toml(out.resolve(), f"sqlite:///{(out / 'kpi.sqlite').resolve()}",
                                             (out / "out").resolve()), encoding="utf-8")
    print(f"wrote {out}: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
