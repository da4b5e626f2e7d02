"""The benchmark: kpi's real pipeline against a hand-written baseline doing the same job with the
same backend's driver, on a generated service centre (bench/generate.py).

    python bench/run.py --size small|large [--store sqlite|postgresql] [--seed 7] [--json]
                        [--repeat N] [--profile FILE] [--postgres-url URL]

In one process: the data is generated (or taken from the cache), then kpi runs it in-process
(kpi.core.pipeline.run on load_config: csv connector → store → metrics in SQL → the scheme in
bench/scheme.toml → store → payroll_csv), then the baseline does the same job directly (sqlite3:
executemany in one transaction and one GROUP BY per table; PostgreSQL: psycopg COPY and GROUP BY),
computing the same metrics, scores, grades and pay by hand. Both must agree for every agent (a
difference is a failure: exit 1, the first differences shown). It prints the phases, the wall
time, peak RSS and the ratio kpi / baseline; with --json the last line is one JSON object.

--repeat N runs N separate processes (so each has its own peak RSS) and reports medians.
The PostgreSQL server is KPI_BENCH_POSTGRES_URL, else KPI_TEST_POSTGRES_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/test; each run makes its own databases and drops them."""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate as gen  # noqa: E402

GENERATOR_VERSION = 2  # bump when generate.py's output changes, so cached sites are made again
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    kb = resource.getrusage(who).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(kb / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


class ChildMemory:
    """The CSV worker processes' own peak, and this process's and its children's RSS together, sampled
    from /proc (Linux) every 0.25 s. getrusage(RUSAGE_CHILDREN) will not do: a spawned child's
    ru_maxrss includes the parent's pages it shared between fork and exec — what this process held
    at that moment, not what the worker ever used."""

    def __init__(self):
        self.worker_peak_kb = 0  # VmHWM: the largest child's own high-water mark since its exec
        self.together_kb = 0  # the largest sum of VmRSS of this process and its children at one sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="bench memory")

    def __enter__(self):
        if Path("/proc/self/status").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.25):
            total = _status_kb(me, "VmRSS")
            for pid in _children(me):
                total += _status_kb(pid, "VmRSS")
                self.worker_peak_kb = max(self.worker_peak_kb, _status_kb(pid, "VmHWM"))
            self.together_kb = max(self.together_kb, total)


def _children(parent: int) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                out.append(int(entry.name))
    return out


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# -- the generated site, cached by size and seed ------------------------------------------------------
def cached_site(size: str, seed: int) -> tuple[Path, dict]:
    root = Path(os.environ.get("KPI_BENCH_CACHE") or Path(tempfile.gettempdir()) / "kpi-bench")
    folder = root / f"{size}-seed{seed}-v{GENERATOR_VERSION}"
    done = folder / "counts.json"
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{size}-", dir=root))
        started = time.perf_counter()
        counts = gen.generate(work, size, seed)
        (work / "counts.json").write_text(json.dumps(counts), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)
        print(f"generated {size} (seed {seed}) in {time.perf_counter() - started:.1f} s → {folder}", file=sys.stderr)
    return folder, json.loads(done.read_text(encoding="utf-8"))


# -- stores ---------------------------------------------------------------------------------------------
@contextmanager
def scratch_database(server_url: str, prefix: str):
    """A new PostgreSQL database on the server, dropped afterwards; yields its SQLAlchemy URL.
    (psycopg directly, so that SQLAlchemy's import is still timed as part of kpi's run.)"""
    import psycopg
    scheme, rest = server_url.split("://", 1)
    server, _, _db = rest.rpartition("/")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"postgresql://{rest}", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{scheme}://{server}/{name}"
    finally:
        with psycopg.connect(f"postgresql://{rest}", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# -- kpi ------------------------------------------------------------------------------------------------
class Clock:
    """Phase times of a kpi run, from its hooks (kpi_phase_started) and its Progress callbacks."""

    def __init__(self):
        self.marks: list[tuple[str, float]] = []
        self.peaks: dict[str, float] = {}  # the process's peak RSS when each phase ended

    def mark(self, name: str) -> None:
        if self.marks:
            self.peaks[self.marks[-1][0]] = peak_rss_mb()
        self.marks.append((name, time.perf_counter()))

    def phases(self, end: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for (name, t), (_, t_next) in zip(self.marks, self.marks[1:] + [("end", end)]):
            out[name] = round(out.get(name, 0.0) + t_next - t, 3)
        return out


def run_kpi(site: Path, url: str, work: Path, profile: str | None) -> dict:
    started = time.perf_counter()
    clock = Clock()
    clock.mark("setup")  # imports, config, scheme, store opened
    from kpi.core import hookimpl, pipeline
    from kpi.core.config import load_config

    class Timer:
        @hookimpl
        def kpi_phase_started(self, run, phase):
            if phase != "pull":  # pull is marked per connector below
                clock.mark(phase)

    class Marks(pipeline.Progress):
        def phase(self, phase, name=""):
            if phase == "pull":
                clock.mark(f"pull:{name}")

    def go() -> tuple[dict, dict]:
        out_dir = work / "out"
        toml = work / "site.toml"
        toml.write_text(gen.site_toml(site, url, out_dir), encoding="utf-8")
        config = load_config(toml)
        host = pipeline.host_for(config)
        host.pm.register(Timer(), name="bench-clock")
        if profile:
            import cProfile
            prof = cProfile.Profile()
            outcome = prof.runcall(pipeline.run, config, host=host, progress=Marks())
            prof.dump_stats(profile)
        else:
            outcome = pipeline.run(config, host=host, progress=Marks())
        if outcome.export_failures:
            raise SystemExit(f"kpi's export failed: {outcome.export_failures}")
        return outcome.sources, {c.employee_id: card_result(c) for c in outcome.scorecards}

    sources, results = go()
    clock.mark("end")
    end = time.perf_counter()
    phases = clock.phases(end)
    phases.pop("end", None)
    rows = sum(s["accepted"] for s in sources)
    pull = sum(v for k, v in phases.items() if k.startswith("pull:"))
    return {"seconds": round(end - started, 3), "phases": phases, "rows": rows, "peaks": clock.peaks,
            "ingest_rows_per_s": round(rows / pull) if pull else None, "results": results}


def card_result(card) -> dict:
    metrics = {}
    for line in card.lines:
        if line.metric:
            metrics[line.metric] = line.value
    return {"total": card.total, "grade": card.grade, "pay": card.pay.amount if card.pay else None, "metrics": metrics}


# -- the baseline ---------------------------------------------------------------------------------------
TZ = ZoneInfo(gen.TIMEZONE)
PLACES = Decimal(1).scaleb(-10)
CENT = Decimal("0.01")


_MINUTES: dict[str, int] = {}


def epoch(text: str) -> int | None:
    """Epoch seconds of a local 'YYYY-MM-DD HH:MM:SS' in the site's zone: the zone's offset is looked
    up once per minute of the month (a zoneinfo lookup per value would cost 2 µs of the 3)."""
    if not text:
        return None
    minute = _MINUTES.get(text[:16])
    if minute is None:
        minute = _MINUTES[text[:16]] = int(datetime.fromisoformat(text[:16]).replace(tzinfo=TZ).timestamp())
    return minute + int(text[17:19])


def day_epoch(text: str) -> int:
    return int(datetime.combine(date.fromisoformat(text), datetime.min.time(), TZ).timestamp())


def read_roster(site: Path) -> tuple[dict, dict, dict, dict]:
    helpdesk, attendance, role, name = {}, {}, {}, {}
    with open(site / "roster.csv", encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for emp, nm, rl, _team, _dept, _hired, agent, att in rows:
            helpdesk[agent], attendance[att], role[emp], name[emp] = emp, emp, rl, nm
    return helpdesk, attendance, role, name


def csv_rows(path: Path):
    f = open(path, encoding="utf-8", newline="")
    rows = csv.reader(f)
    next(rows)
    return f, rows


def baseline_rows(site: Path, helpdesk: dict, attendance: dict):
    """The four tables' rows, parsed and mapped to employees, as generators (streamed)."""
    def tickets():
        f, rows = csv_rows(site / "tickets.csv")
        with f:
            for tid, agent, created, reply, resolved, reopens, priority, channel in rows:
                yield (helpdesk.get(agent), tid, epoch(created), epoch(reply), epoch(resolved),
                       int(reopens) if reopens else None, priority or None, channel or None)

    def ratings():
        f, rows = csv_rows(site / "ratings.csv")
        with f:
            for rid, agent, rated, result, _tid in rows:
                yield helpdesk.get(agent), rid, epoch(rated), {"满意": 1, "不满意": 0}.get(result)

    def complaints():
        f, rows = csv_rows(site / "complaints.csv")
        with f:
            for cid, agent, filed, valid, _tid in rows:
                yield helpdesk.get(agent), cid, epoch(filed), 1 if valid == "是" else 0

    def days():
        codes = {"正常": "normal", "迟到": "late", "早退": "early", "旷工": "absent", "请假": "leave"}
        f, rows = csv_rows(site / "attendance.csv")
        with f:
            for rid, att, day, result, late in rows:
                yield attendance.get(att), rid, day_epoch(day), codes.get(result, result), int(late) if late else None

    return {"tickets": tickets(), "ratings": ratings(), "complaints": complaints(), "days": days()}


TABLES = {
    "tickets": "emp TEXT, sid TEXT, created BIGINT, replied BIGINT, resolved BIGINT, reopens INT, priority TEXT, channel TEXT",
    "ratings": "emp TEXT, sid TEXT, rated BIGINT, good INT",
    "complaints": "emp TEXT, sid TEXT, filed BIGINT, valid INT",
    "days": "emp TEXT, sid TEXT, day BIGINT, result TEXT, minutes_late INT",
}


def queries(lo: int, hi: int) -> dict[str, str]:
    """One GROUP BY per table, every metric of it in the one scan."""
    return {
        "tickets": f"""SELECT emp, COUNT(*),
              SUM(CASE WHEN (priority IS NULL OR priority <> 'urgent') AND COALESCE(resolved, {hi}) - created > 86400 THEN 1 ELSE 0 END),
              SUM(CASE WHEN priority = 'urgent' AND COALESCE(resolved, {hi}) - created > 43200 THEN 1 ELSE 0 END),
              SUM(replied - created), COUNT(replied - created),
              SUM(CASE WHEN resolved IS NOT NULL THEN 1 ELSE 0 END),
              SUM(CASE WHEN resolved IS NOT NULL AND reopens > 0 THEN 1 ELSE 0 END),
              SUM(CASE WHEN resolved IS NOT NULL AND reopens IS NOT NULL THEN 1 ELSE 0 END)
            FROM tickets WHERE emp IS NOT NULL AND created >= {lo} AND created < {hi} GROUP BY emp""",
        "ratings": f"""SELECT emp, SUM(CASE WHEN good = 1 THEN 1 ELSE 0 END), COUNT(good)
            FROM ratings WHERE emp IS NOT NULL AND rated >= {lo} AND rated < {hi} GROUP BY emp""",
        "complaints": f"""SELECT emp, SUM(valid) FROM complaints
            WHERE emp IS NOT NULL AND filed >= {lo} AND filed < {hi} GROUP BY emp""",
        "days": f"""SELECT emp, SUM(CASE WHEN result IN ('late', 'early') THEN 1 ELSE 0 END),
              SUM(CASE WHEN result = 'absent' THEN 1 ELSE 0 END)
            FROM days WHERE emp IS NOT NULL AND day >= {lo} AND day < {hi} GROUP BY emp""",
    }


def exact(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(PLACES).normalize()


def rate(num, den) -> Decimal | None:
    den = int(den or 0)
    return exact(Decimal(int(num or 0)) * 100 / Decimal(den)) if den else None


def metrics_from(groups: dict[str, dict[str, tuple]]) -> dict[str, dict]:
    out = {}
    for emp, g in groups.items():
        t = g.get("tickets") or (0, 0, 0, 0, 0, 0, 0, 0)
        n, late_n, late_u, reply_sum, replied, resolved, reopened, reopen_known = t
        r = g.get("ratings") or (0, 0)
        c = g.get("complaints") or (0,)
        d = g.get("days") or (0, 0)
        out[emp] = {
            "tickets_handled": Decimal(int(n or 0)),
            "late_normal_tickets": Decimal(int(late_n or 0)),
            "late_urgent_tickets": Decimal(int(late_u or 0)),
            "first_reply_minutes": exact(Decimal(str(reply_sum)) / int(replied) / 60) if replied else None,
            "resolution_rate": rate(resolved, n),
            "reopen_rate": rate(reopened, reopen_known),
            "csat_rate": rate(r[0], r[1]),
            "valid_complaints": Decimal(int(c[0] or 0)),
            "attendance_exceptions": Decimal(int(d[0] or 0)),
            "absent_days": Decimal(int(d[1] or 0)),
        }
    return out


def band(value, table, missing=0):
    """table: (test, points) pairs in order; the first that holds."""
    if value is None:
        return Decimal(missing)
    return Decimal(next(points for test, points in table if test(value)))


WEIGHTS = {"客服专员": (30, 35, 20, 15), "资深客服": (25, 35, 25, 15)}
MAXES = (30, 35, 20, 15)
PAY_BASE = {"客服专员": Decimal(1000), "资深客服": Decimal(1500)}


def score(role: str, m: dict) -> dict:
    """bench/scheme.toml, by hand."""
    vc = m["valid_complaints"]
    satisfaction = (band(m["csat_rate"], [(lambda v: v >= 95, 30), (lambda v: v >= 90, 24), (lambda v: v >= 85, 18),
                                          (lambda v: v >= 80, 12), (lambda v: True, 0)])
                    + (5 if vc == 0 else 0) - 10 * vc)
    efficiency = (max(Decimal(0), 15 - m["late_normal_tickets"]) + max(Decimal(0), 10 - 2 * m["late_urgent_tickets"])
                  + band(m["first_reply_minutes"], [(lambda v: v <= 10, 10), (lambda v: v <= 20, 8),
                                                    (lambda v: v <= 40, 5), (lambda v: True, 2)]))
    quality = (band(m["resolution_rate"], [(lambda v: v >= 97, 5), (lambda v: v >= 94, 3), (lambda v: v >= 90, 1),
                                           (lambda v: True, 0)])
               + band(m["reopen_rate"], [(lambda v: v <= 3, 10), (lambda v: v <= 6, 7), (lambda v: v <= 10, 4),
                                         (lambda v: True, 0)])
               + band(m["tickets_handled"], [(lambda v: v >= 210, 5), (lambda v: v >= 190, 3), (lambda v: True, 0)]))
    absent = m["absent_days"]
    discipline = (max(Decimal(0), 10 - 2 * m["attendance_exceptions"])
                  + (Decimal(0) if absent >= 2 else max(Decimal(0), 5 - 5 * absent)))
    total = Decimal(0)
    for raw, top, weight in zip((satisfaction, efficiency, quality, discipline), MAXES, WEIGHTS[role]):
        raw = min(max(raw, Decimal(0)), Decimal(top))
        total += (raw / top * weight).quantize(CENT, ROUND_HALF_UP)
    total = min(total, Decimal(100))
    grade = "A" if total > 90 else "B" if total >= 80 else "C" if total >= 70 else "D"
    percent = Decimal(100 if total >= 95 else 90 if total >= 85 else 80 if total >= 75 else 70)
    if role == "客服专员":
        percent = max(percent, Decimal(75))
    pay = (PAY_BASE[role] * percent / 100).quantize(CENT, ROUND_HALF_UP)
    return {"total": total, "grade": grade, "pay": pay, "metrics": m}


def run_baseline(site: Path, url: str, work: Path, keyed: bool = False) -> dict:
    """The same job by hand. `keyed`: each table gets a unique index on its source id, and SQLite
    inserts with INSERT OR REPLACE — what collapsing a record fetched twice costs (kpi's store
    keeps such a key on (source, source_id)); the plain baseline has no index at all."""
    started = time.perf_counter()
    clock = Clock()
    clock.mark("ingest")
    helpdesk, attendance, roles, names = read_roster(site)
    lo = int(datetime(gen.YEAR, gen.MONTH, 1, tzinfo=TZ).timestamp())
    hi = int(datetime(gen.YEAR + gen.MONTH // 12, gen.MONTH % 12 + 1, 1, tzinfo=TZ).timestamp())
    groups: dict[str, dict[str, tuple]] = {emp: {} for emp in roles}
    rows_in = 0

    if url.startswith("sqlite"):
        import sqlite3
        db = sqlite3.connect(url.split(":///", 1)[1])
        with db:  # one transaction
            for table, columns in TABLES.items():
                db.execute(f"CREATE TABLE {table} ({columns})")
                if keyed:
                    db.execute(f"CREATE UNIQUE INDEX {table}_sid ON {table} (sid)")
            verb = "INSERT OR REPLACE" if keyed else "INSERT"
            for table, rows in baseline_rows(site, helpdesk, attendance).items():
                n = TABLES[table].count(",") + 1
                cur = db.executemany(f"{verb} INTO {table} VALUES ({', '.join('?' * n)})", rows)
                rows_in += cur.rowcount
        clock.mark("aggregate")
        for table, sql in queries(lo, hi).items():
            for emp, *vals in db.execute(sql):
                if emp in groups:
                    groups[emp][table] = tuple(vals)
        db.close()
    else:
        import psycopg
        u = url.split("://", 1)[1]  # postgresql+psycopg://user@host:port/db → a libpq URL
        with psycopg.connect(f"postgresql://{u}") as db:
            with db.cursor() as cur:  # one transaction
                for table, columns in TABLES.items():
                    cur.execute(f"CREATE TABLE {table} ({columns})")
                    if keyed:
                        cur.execute(f"CREATE UNIQUE INDEX {table}_sid ON {table} (sid)")
                for table, rows in baseline_rows(site, helpdesk, attendance).items():
                    with cur.copy(f"COPY {table} FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                            rows_in += 1
            db.commit()
            clock.mark("aggregate")
            with db.cursor() as cur:
                for table, sql in queries(lo, hi).items():
                    for emp, *vals in cur.execute(sql):
                        if emp in groups:
                            groups[emp][table] = tuple(vals)

    clock.mark("score")
    results = {emp: score(roles[emp], m) for emp, m in metrics_from(groups).items()}
    clock.mark("export")
    work.joinpath("out").mkdir(exist_ok=True)
    with open(work / "out" / f"baseline-payroll-{gen.PERIOD}.csv", "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["工号", "姓名", "岗位", "考核总分", "等级", "绩效工资(元)"])
        for emp in sorted(results):
            r = results[emp]
            w.writerow([emp, names[emp], roles[emp], r["total"].normalize(), r["grade"], r["pay"]])
    end = time.perf_counter()
    return {"seconds": round(end - started, 3), "phases": clock.phases(end), "rows": rows_in, "results": results}


# -- comparison and report ------------------------------------------------------------------------------
def differences(kpi: dict, base: dict) -> list[str]:
    out = []
    for emp in sorted(set(kpi) | set(base)):
        a, b = kpi.get(emp), base.get(emp)
        if a is None or b is None:
            out.append(f"{emp}: only in {'the baseline' if a is None else 'kpi'}")
            continue
        for key in ("total", "grade", "pay"):
            if a[key] != b[key]:
                out.append(f"{emp}: {key} kpi {a[key]} ≠ baseline {b[key]}")
        for metric, value in b["metrics"].items():
            if a["metrics"].get(metric, "absent") != value:
                out.append(f"{emp}: {metric} kpi {a['metrics'].get(metric, 'absent')} ≠ baseline {value}")
    return out


def once(args) -> dict:
    site, counts = cached_site(args.size, args.seed)
    work = Path(tempfile.mkdtemp(prefix="kpi-bench-run-"))
    try:
        with ExitStack() as stack:
            urls = {}
            for sub in ("kpi", "base"):  # the stores are made before the clocks start, and dropped after
                (work / sub).mkdir()
                urls[sub] = (f"sqlite:///{work / sub / 'store.sqlite'}" if args.store == "sqlite"
                             else stack.enter_context(scratch_database(args.postgres_url, f"kpi_bench_{sub}")))
            gc.collect()
            with ChildMemory() as memory:
                kpi = run_kpi(site, urls["kpi"], work / "kpi", args.profile)
            kpi_rss = peak_rss_mb()  # kpi runs first: the process's peak so far is kpi's
            gc.collect()
            base = run_baseline(site, urls["base"], work / "base", args.baseline_keyed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    diffs = differences(kpi.pop("results"), base.pop("results"))
    return {"size": args.size, "store": args.store, "seed": args.seed, "baseline_keyed": args.baseline_keyed,
            "agents": counts["roster.csv"],
            "tickets": counts["tickets.csv"], "rows": kpi["rows"],
            "kpi_seconds": kpi["seconds"], "baseline_seconds": base["seconds"],
            "ratio": round(kpi["seconds"] / base["seconds"], 2),
            "peak_rss_mb": kpi_rss, "process_peak_rss_mb": peak_rss_mb(),
            # the CSV connector's worker processes (a large file is parsed there): the largest one's own peak;
            # and the most kpi's process and its workers held at once (sampled)
            "worker_peak_rss_mb": round(memory.worker_peak_kb / 1024, 1),
            "with_workers_peak_rss_mb": round(memory.together_kb / 1024, 1),
            "ingest_rows_per_s": kpi["ingest_rows_per_s"],
            "kpi_phases": kpi["phases"], "kpi_peak_rss_by_phase": kpi["peaks"], "baseline_phases": base["phases"],
            "identical": not diffs, "differences": diffs[:20], "differences_total": len(diffs)}


def show(r: dict, out=sys.stdout) -> None:
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"size {r['size']} ({r['agents']:,} agents, {r['tickets']:,} tickets, {r['rows']:,} records), store {r['store']}")
    p("kpi phases (s):")
    peaks = r.get("kpi_peak_rss_by_phase", {})
    for name, sec in r["kpi_phases"].items():
        p(f"  {name:<22} {sec:8.2f}" + (f"   (peak RSS {peaks[name]:.0f} MiB by its end)" if name in peaks else ""))
    p(f"  ingest: {r['ingest_rows_per_s'] or 0:,} rows/s")
    p("baseline phases (s):")
    for name, sec in r["baseline_phases"].items():
        p(f"  {name:<22} {sec:8.2f}")
    keyed = " (keyed: a unique index on the source id)" if r.get("baseline_keyed") else ""
    p(f"kpi {r['kpi_seconds']:.2f} s, baseline{keyed} {r['baseline_seconds']:.2f} s: ratio {r['ratio']:.2f}")
    p(f"peak RSS: kpi {r['peak_rss_mb']} MiB (process, with the baseline: {r['process_peak_rss_mb']} MiB; "
      f"kpi's CSV worker process: {r['worker_peak_rss_mb']} MiB; kpi and its workers at once: "
      f"{r.get('with_workers_peak_rss_mb')} MiB, sampled)")
    if r["identical"]:
        p("per-agent results: identical (metrics, totals, grades, pay)")
    else:
        p(f"per-agent results DIFFER ({r['differences_total']} differences); the first:")
        for d in r["differences"]:
            p(f"  {d}")


def repeated(args, argv: list[str]) -> dict:
    """N runs in separate processes; medians of the figures, and every run's."""
    child = [a for a in argv if not a.startswith("--repeat")]
    if "--repeat" in argv:
        i = argv.index("--repeat")
        child = argv[:i] + argv[i + 2:]
    runs = []
    for i in range(args.repeat):
        proc = subprocess.run([sys.executable, __file__, *[a for a in child if a != "--json"], "--json"],
                              capture_output=True, text=True)
        if proc.returncode not in (0, 1) or not proc.stdout.strip():
            raise SystemExit(f"run {i + 1} failed:\n{proc.stderr}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"run {i + 1}/{args.repeat}: kpi {runs[-1]['kpi_seconds']} s, baseline {runs[-1]['baseline_seconds']} s, "
              f"ratio {runs[-1]['ratio']}, peak {runs[-1]['peak_rss_mb']} MiB", file=sys.stderr)
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    first = runs[0]
    phases = {k: round(statistics.median(r["kpi_phases"].get(k, 0) for r in runs), 3) for k in first["kpi_phases"]}
    bphases = {k: round(statistics.median(r["baseline_phases"].get(k, 0) for r in runs), 3) for k in first["baseline_phases"]}
    return {**first, "runs": len(runs), "kpi_seconds": med("kpi_seconds"), "baseline_seconds": med("baseline_seconds"),
            "ratio": round(med("ratio"), 2), "peak_rss_mb": med("peak_rss_mb"),
            "process_peak_rss_mb": med("process_peak_rss_mb"), "worker_peak_rss_mb": med("worker_peak_rss_mb"),
            "with_workers_peak_rss_mb": med("with_workers_peak_rss_mb"), "ingest_rows_per_s": round(med("ingest_rows_per_s")),
            "kpi_phases": phases, "baseline_phases": bphases,
            "identical": all(r["identical"] for r in runs),
            "each": [{k: r[k] for k in ("kpi_seconds", "baseline_seconds", "ratio", "peak_rss_mb")} for r in runs]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=list(gen.SIZES), default="small")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=gen.SEED)
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    parser.add_argument("--repeat", type=int, default=1, help="separate runs; report medians")
    parser.add_argument("--profile", help="cProfile kpi's run into this file")
    parser.add_argument("--baseline-keyed", action="store_true",
                        help="give the baseline's tables a unique key on the source id, as kpi's store has")
    parser.add_argument("--postgres-url", default=os.environ.get("KPI_BENCH_POSTGRES_URL")
                        or os.environ.get("KPI_TEST_POSTGRES_URL") or DEFAULT_POSTGRES)
    args = parser.parse_args(argv)
    result = repeated(args, argv) if args.repeat > 1 else once(args)
    show(result, sys.stderr if args.json else sys.stdout)
    if args.repeat > 1:
        for r in result["each"]:
            print(f"  run: {r}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, default=str))
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
