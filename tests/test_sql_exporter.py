"""The sql_table exporter writes the period's results into another database — SQLite always,
PostgreSQL and MariaDB when their URLs are set — one row per employee, replaced by a correction,
and never written again when nothing changed."""

from __future__ import annotations

import json
from decimal import Decimal

import sqlalchemy as sa
from click.testing import CliRunner

from kpi.core.cli import main
from kpi.plugins.exporters.sql_table import results_table


def run(site, *args) -> dict:
    result = CliRunner().invoke(main, ["run", "--config", str(site), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rows(url: str) -> dict[str, dict]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        out = {r["employee_id"]: dict(r) for r in conn.execute(sa.select(results_table("kpi_results"))).mappings()}
    engine.dispose()
    return out


def test_results_land_in_another_database_once_and_a_correction_replaces_its_row(demo_site, store_url, monkeypatch):
    url = sa.engine.make_url(store_url)
    monkeypatch.setenv("HR_DB_PASSWORD", url.password or "")
    demo_site.write_text(demo_site.read_text(encoding="utf-8") + f"""
[[exporter]]
name = "warehouse"
use = "sql_table"
url = "{url.set(password=None).render_as_string(hide_password=False)}"
{'password = "${HR_DB_PASSWORD}"' if url.password else ''}
""", encoding="utf-8")
    first = run(demo_site)
    got = rows(store_url)
    cards = {c["employee_id"]: c for c in first["scorecards"]}
    assert set(got) == set(cards)
    for emp, card in cards.items():
        row = got[emp]
        assert (row["site"], row["period"], row["name"], row["grade"]) == (
            "绿源再生资源 客户服务部 (demo)", "2026-10", card["name"], card["grade"])
        assert row["total"] == (None if card["total"] is None else Decimal(card["total"]))
        assert row["pay_amount"] == (Decimal(card["pay"]["amount"]) if card["pay"] else None)
    stamp = {e: r["exported_at"] for e, r in got.items()}

    again = run(demo_site)
    warehouse = next(e for e in again["exports"] if e["exporter"] == "warehouse")
    assert (warehouse["delivered"], warehouse["unchanged"]) == (0, 30)
    assert {e: r["exported_at"] for e, r in rows(store_url).items()} == stamp  # not written again

    figures = demo_site.parent / "data" / "department_figures.csv"
    figures.write_text(figures.read_text(encoding="utf-8").replace("E011,2026-10,92%,85.7%,0,2",
                                                                   "E011,2026-10,92%,85.7%,0,3"), encoding="utf-8")
    corrected = run(demo_site)
    after = rows(store_url)
    assert len(after) == 30 and after["E011"]["total"] == Decimal("33") and after["E011"]["run_id"] == corrected["run_id"]
    assert {e: r["run_id"] for e, r in after.items() if e != "E011"} == {e: first["run_id"] for e in after if e != "E011"}


def test_a_password_in_the_url_is_refused(demo_site):
    demo_site.write_text(demo_site.read_text(encoding="utf-8") + """
[[exporter]]
name = "warehouse"
use = "sql_table"
url = "postgresql+psycopg://kpi:hunter2@db/hr"
""", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", "--config", str(demo_site)])
    assert result.exit_code == 1 and "url has a password in it" in result.output and "hunter2" not in result.output
