"""A run killed outright (SIGKILL: no except, no finally, no rollback by kpi) at any point leaves
the store as it was: the previous run stays current with the same scorecards, the killed run stays
recorded as running, and the next run marks it failed (interrupted) and succeeds.

The run is a real `kpi run` in a child process, on SQLite, and on PostgreSQL and MariaDB when
KPI_TEST_POSTGRES_URL / KPI_TEST_MYSQL_URL are set (the same throwaway databases as conftest's
`store_url`, but one per backend for the whole module, since each test leaves the store with a
succeeded current run, as it found it). A local plugin module, listed in the site's
[plugins] modules, kills its own process either as a phase starts (kpi_phase_started) or in the
middle of a transaction (just before a chosen SQL statement, with earlier writes uncommitted)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import BACKENDS, DEMO, _server_database, set_store
import sqlalchemy as sa

from kpi.core import pipeline
from kpi.core.config import load_config
from kpi.core.records import BUILTIN_KINDS
from kpi.core.store import Store

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

PERIOD = "2026-10"



KILLER = '''
"""Test plugin: SIGKILLs this process at {at!r}."""
import os
import signal
from pathlib import Path

import sqlalchemy as sa
from kpi.core import hookimpl

AT = {at!r}
MARK = Path(__file__).with_name("killed_at.txt")

# Kills inside a transaction: the phase to arm in, and the SQL statement to die just before.
INSIDE = {{
    # the tickets connector's pull: its old rows are deleted, the new ones not yet inserted (on
    # PostgreSQL they are staged by COPY, which the statement events do not see)
    "inside-pull": ("pull", lambda sql: sql.startswith(("insert into rec_ticket",
                                                        "create temporary table if not exists kpi_stage_rec_ticket"))),
    # the commit: metric values and scorecards inserted, the previous run no longer current
    "inside-commit": ("commit", lambda sql: sql.startswith("update runs set") and "report" in sql),
}}


SEEN = []  # the SQL statements (their first three words) run since the plugin armed itself


def die(where):
    MARK.write_text("\\n".join([where, *SEEN]), encoding="utf-8")
    os.kill(os.getpid(), signal.SIGKILL)


@hookimpl
def kpi_phase_started(run, phase):
    if phase == AT:
        die(phase)
    arm_phase, matches = INSIDE.get(AT, (None, None))
    if phase == arm_phase:
        @sa.event.listens_for(run.store.engine, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):
            sql = " ".join(statement.split()).lower()
            if matches(sql):
                if AT == "inside-commit":  # rows written so far (COPY, on PostgreSQL, is no statement event)
                    for table in ("metric_values", "scorecards"):
                        cursor.execute(f"SELECT count(*) FROM {{table}}")
                        SEEN.append(f"rows in {{table}}: {{cursor.fetchone()[0]}}")
                die(AT)
            SEEN.append(" ".join(sql.split()[:3]))
'''


@contextmanager
def opened(url: str):
    store = Store.open(url, BUILTIN_KINDS)
    try:
        with store.transaction() as conn:
            yield store, conn
    finally:
        store.close()


def state(url: str) -> dict:
    """The period's runs, the current run's scorecards and the record counts, as stored."""
    with opened(url) as (store, conn):
        runs = store.runs(conn, PERIOD)
        current = store.current_run(conn, PERIOD)
        cards = store.scorecards(conn, current["id"]) if current else []
        counts = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                  for t in ("rec_ticket", "rec_rating", "rec_complaint", "rec_attendance_day", "employees",
                            "scorecards", "metric_values")}
        return {"runs": runs, "current": current, "cards": cards, "counts": counts,
                "orphans": {r["id"]: (len(store.scorecards(conn, r["id"])), len(store.metric_values(conn, r["id"])))
                            for r in runs if r["status"] != "succeeded"}}


@pytest.fixture(scope="module", params=list(BACKENDS))
def site(request, tmp_path_factory):
    """A copy of the demo site with a store on one backend, shared by this module's tests on that
    backend (a demo run costs seconds): each test leaves it with a succeeded current run, as it
    found it."""
    env = BACKENDS[request.param]
    root = tmp_path_factory.mktemp(f"kill-{request.param}")
    site_dir = root / "demo"
    shutil.copytree(DEMO, site_dir, ignore=shutil.ignore_patterns("out", "*.sqlite*", "__pycache__"))
    toml = site_dir / "site.toml"
    if env is None:
        yield toml  # the site's default store, kpi.sqlite next to it
    else:
        for url in _server_database(env):  # skips, with the reason, when the server is not configured
            set_store(toml, url)
            yield toml


@pytest.mark.parametrize("at", ["pull", "inside-pull", "commit", "inside-commit"])
def test_killed_run_leaves_the_previous_run_current(site, at):
    kill_and_recover(site, at)


# A kill as metrics or score starts leaves the database exactly as one as the commit starts does
# (those phases only read it), so these two run on SQLite only, where a demo run is cheapest: the
# file stays near a minute on three backends.
@pytest.mark.parametrize("site", ["sqlite"], indirect=True)
@pytest.mark.parametrize("at", ["metrics", "score"])
def test_run_killed_while_reading_leaves_the_previous_run_current(site, at):
    kill_and_recover(site, at)


def kill_and_recover(site: Path, at: str) -> None:
    """Kill a `kpi run` child at `at`; check the store; run again; check again."""
    site_dir = site.parent
    clean_config = site.read_text(encoding="utf-8")
    url = load_config(site).store_url
    before = state(url)
    if before["current"] is None:  # the first test on this store: a first, complete run
        pipeline.run(load_config(site))
        before = state(url)
    assert before["current"]["status"] == "succeeded" and len(before["cards"]) == 30

    module = f"killer_{at.replace('-', '_')}"
    (site_dir / f"{module}.py").write_text(KILLER.format(at=at), encoding="utf-8")
    site.write_text(clean_config.replace("[identity]", f'[plugins]\nmodules = ["{module}"]\n\n[identity]', 1),
                    encoding="utf-8")
    mark = site_dir / "killed_at.txt"
    mark.unlink(missing_ok=True)
    try:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        child = subprocess.run([sys.executable, "-m", "kpi.core.cli", "run", "--config", str(site)],
                               cwd=site_dir, env=env, capture_output=True, text=True, timeout=300,
                               stdin=subprocess.DEVNULL)
    finally:
        site.write_text(clean_config, encoding="utf-8")
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stdout, child.stderr)
    where, *seen = mark.read_text(encoding="utf-8").split("\n")
    assert where == at
    if at == "inside-pull":  # killed with the tickets source's old rows deleted, uncommitted
        assert "delete from rec_ticket" in seen or "truncate rec_ticket" in seen  # truncate: PostgreSQL, sole source
    if at == "inside-commit":  # killed with the run's results inserted and the old run un-marked, uncommitted
        assert "update runs set" in seen
        written = {line.split(": ")[0][8:]: int(line.split(": ")[1]) for line in seen if line.startswith("rows in ")}
        assert written["metric_values"] > before["counts"]["metric_values"]
        assert written["scorecards"] > before["counts"]["scorecards"]

    after = state(url)
    killed = after["runs"][-1]
    assert after["runs"][:-1] == before["runs"]  # the history, the previous current run included, as it was
    assert killed["id"] > before["runs"][-1]["id"]
    assert (killed["status"], killed["is_current"], killed["finished_at"], killed["error"]) == \
           ("running", False, None, None)
    assert after["current"] == before["current"]
    assert after["cards"] == before["cards"]
    # Row counts as they were: a pull the child committed re-stored the same files; one it was
    # killed in (inside-pull: old tickets deleted) was rolled back; the commit left nothing.
    assert after["counts"] == before["counts"]
    assert after["orphans"] == {**before["orphans"], killed["id"]: (0, 0)}

    # The next run, without the killer: it marks the killed run failed (interrupted) and succeeds.
    nxt = pipeline.run(load_config(site))
    final = state(url)
    by_id = {r["id"]: r for r in final["runs"]}
    assert [r["id"] for r in final["runs"]] == [r["id"] for r in after["runs"]] + [nxt.run_id]
    gone = by_id[killed["id"]]
    assert (gone["status"], gone["is_current"]) == ("failed", False)
    assert "interrupted" in gone["error"] and gone["finished_at"] is not None
    previous = by_id[before["current"]["id"]]
    assert (previous["status"], previous["is_current"]) == ("succeeded", False)
    assert (by_id[nxt.run_id]["status"], by_id[nxt.run_id]["is_current"]) == ("succeeded", True)
    assert [r["id"] for r in final["runs"] if r["is_current"]] == [nxt.run_id]
    strip = lambda cards: [{k: v for k, v in c.items() if k != "run_id"} for c in cards]  # noqa: E731
    assert strip(final["cards"]) == strip(before["cards"])
