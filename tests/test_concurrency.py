"""Two runs of the same period at once are serialised by a lock in the store: the second is refused
with a message naming the run in progress and since when, and leaves nothing behind; a lock left
by a run killed with SIGKILL is recognised as stale and taken over by the next run.

The runs are real `kpi run` processes on the demo site, on SQLite, and on PostgreSQL and MariaDB
when KPI_TEST_POSTGRES_URL / KPI_TEST_MYSQL_URL are set (conftest's `store_url`). A local plugin
module, listed in a second config of the same site, holds its run at the start of the metrics phase
(after the pulls) until the test lets it go."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from support import set_store

from kpi.core.config import load_config
from kpi.core.records import BUILTIN_KINDS
from kpi.core.store import Store
from kpi.core.store import schema
from kpi.core.store.store import RUN_LOCK_PREFIX, RunInProgress

PERIOD = "2026-10"

HOLDER = '''
"""Test plugin: holds its run as the metrics phase starts, until the file `release` appears."""
import time
from pathlib import Path

from kpi.core import hookimpl

HERE = Path(__file__).parent


@hookimpl
def kpi_phase_started(run, phase):
    if phase == "metrics":
        (HERE / "holding").write_text(str(run.id), encoding="utf-8")
        deadline = time.monotonic() + 240
        while not (HERE / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
'''


@pytest.fixture
def site(demo_site, store_url):
    """The demo site on a store of each backend, with site-held.toml: the same site and store, with
    the holding plugin."""
    set_store(demo_site, store_url)
    (demo_site.parent / "holder.py").write_text(HOLDER, encoding="utf-8")
    held = demo_site.read_text(encoding="utf-8").replace(
        "[identity]", '[plugins]\nmodules = ["holder"]\n\n[identity]', 1)
    demo_site.with_name("site-held.toml").write_text(held, encoding="utf-8")
    return demo_site


def kpi_run(config: Path, **kwargs):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.Popen([sys.executable, "-m", "kpi.core.cli", "run", "--config", str(config)],
                            cwd=config.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, **kwargs)


def start_held(site: Path) -> subprocess.Popen:
    """A `kpi run` that holds the lock, waiting in its metrics phase; returns once it is there."""
    proc = kpi_run(site.with_name("site-held.toml"))
    holding = site.with_name("holding")
    deadline = time.monotonic() + 180
    while not holding.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the held run ended early ({proc.returncode}):\n{out}\n{err}")
        assert time.monotonic() < deadline, "the held run did not reach its metrics phase"
        time.sleep(0.05)
    return proc


def runs(site: Path) -> list[dict]:
    store = Store.open(load_config(site).store_url, BUILTIN_KINDS)
    try:
        with store.transaction() as conn:
            return store.runs(conn, PERIOD)
    finally:
        store.close()


def test_a_second_run_of_the_period_is_refused_while_the_first_runs(site):
    first = start_held(site)
    try:
        held_id = int(site.with_name("holding").read_text(encoding="utf-8"))
        second = kpi_run(site)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 1, (out, err)
        assert f"run {held_id} of {PERIOD} is in progress since " in err
        assert "try again when it finishes" in err
        assert "Traceback" not in err
        # The refused run recorded nothing: the first is the period's only run, still running.
        assert [(r["id"], r["status"]) for r in runs(site)] == [(held_id, "running")]
    finally:
        site.with_name("release").write_text("", encoding="utf-8")
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, (out, err)
    # Once it has finished, the next run goes ahead.
    third = kpi_run(site)
    out, err = third.communicate(timeout=300)
    assert third.returncode == 0, (out, err)
    assert [r["status"] for r in runs(site)] == ["succeeded", "succeeded"]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_the_lock_of_a_killed_run_is_taken_over(site):
    first = start_held(site)
    killed_id = int(site.with_name("holding").read_text(encoding="utf-8"))
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL
    # Its lock is still in the store, naming a process that is gone.
    store = Store.open(load_config(site).store_url, BUILTIN_KINDS)
    try:
        with store.transaction() as conn:
            row = conn.execute(sa.select(schema.meta.c.value).where(schema.meta.c.key == RUN_LOCK_PREFIX + PERIOD)).first()
        assert row is not None and json.loads(row[0])["run"] == killed_id
    finally:
        store.close()

    second = kpi_run(site)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, (out, err)
    by_id = {r["id"]: r for r in runs(site)}
    assert by_id[killed_id]["status"] == "failed" and "interrupted" in by_id[killed_id]["error"]
    assert [r["status"] for r in by_id.values()] == ["failed", "succeeded"]


def test_the_lock_in_one_process(store_url):
    """The same lock from two stores in one process: refused while held, free once released, and
    per period."""
    a, b = Store.open(store_url, BUILTIN_KINDS), Store.open(store_url, BUILTIN_KINDS)
    try:
        with a.run_lock(PERIOD) as lock:
            with pytest.raises(RunInProgress, match=f"a run of {PERIOD} is in progress since .*try again"):
                with b.run_lock(PERIOD):
                    pass
            lock.running(41)
            with pytest.raises(RunInProgress, match=f"run 41 of {PERIOD} is in progress"):
                with b.run_lock(PERIOD):
                    pass
            with b.run_lock("2026-11"):  # another period is not held
                pass
        with b.run_lock(PERIOD):  # released
            pass
    finally:
        a.close()
        b.close()
