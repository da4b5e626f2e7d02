"""The export ledger: nothing delivered twice, a changed result sent once as a correction, a dry run
that sends and records nothing, and `kpi export` resuming from the store without scoring again.
Checked on the demo's payroll file and the ledger rows in the real store."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from kpi.core.cli import main
from kpi.core.store import Store, schema


def kpi(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def payroll(out: dict) -> dict:
    return next(e for e in out["exports"] if e["exporter"] == "payroll")


def ledger(site: Path) -> list[dict]:
    engine = sa.create_engine(f"sqlite:///{site.parent / 'kpi.sqlite'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT employee_id, run_id, status, kind, idempotency_key FROM export_ledger "
                                    "WHERE exporter = 'payroll' ORDER BY id")).mappings().all()
    engine.dispose()
    return [dict(r) for r in rows]


def test_a_result_is_delivered_once_and_a_changed_one_once_as_a_correction(demo_site):
    first = kpi("run", "--config", str(demo_site))
    assert payroll(first)["delivered"] == 30
    rows = ledger(demo_site)
    assert len(rows) == 30 and {r["status"] for r in rows} == {"delivered"} and {r["kind"] for r in rows} == {"new"}
    csv_file = demo_site.parent / "out" / "payroll-2026-10.csv"
    before = csv_file.read_bytes()

    # The same results again — by a re-run and by `kpi export` — deliver nothing.
    again = kpi("run", "--config", str(demo_site))
    assert (payroll(again)["delivered"], payroll(again)["unchanged"]) == (0, 30)
    resent = kpi("export", "--config", str(demo_site))
    assert payroll(resent)["delivered"] == 0 and len(ledger(demo_site)) == 30
    assert csv_file.read_bytes() == before

    # QC corrects E011's teamwork rating from 2 to 3: exactly one correction, for E011.
    figures = demo_site.parent / "data" / "department_figures.csv"
    figures.write_text(figures.read_text(encoding="utf-8").replace("E011,2026-10,92%,85.7%,0,2",
                                                                   "E011,2026-10,92%,85.7%,0,3"), encoding="utf-8")
    corrected = kpi("run", "--config", str(demo_site))
    assert (payroll(corrected)["delivered"], payroll(corrected)["unchanged"]) == (1, 29)
    new = ledger(demo_site)[30:]
    assert [(r["employee_id"], r["kind"], r["run_id"]) for r in new] == [("E011", "correction", corrected["run_id"])]
    # E011: teamwork 3 → 6 instead of 4: total 33, still D and the 75% floor: pay unchanged, the total corrected
    line = next(ln for ln in csv_file.read_text(encoding="utf-8-sig").splitlines() if ln.startswith("E011,"))
    assert ",33,D,75,300.00,225.00," in line
    keys = [r["idempotency_key"] for r in ledger(demo_site) if r["employee_id"] == "E011"]
    assert len(set(keys)) == 2  # a different payload, a different key


def test_a_dry_run_sends_and_records_nothing(demo_site):
    kpi("run", "--config", str(demo_site))
    csv_file = demo_site.parent / "out" / "payroll-2026-10.csv"
    csv_file.unlink()
    dry = kpi("export", "--config", str(demo_site), "--dry-run")
    assert dry["dry_run"] and payroll(dry)["unchanged"] == 30
    assert not csv_file.exists() and len(ledger(demo_site)) == 30
    kpi("export", "--config", str(demo_site))
    assert csv_file.exists()  # the file is the whole period: written again, and nothing recorded twice
    assert len(ledger(demo_site)) == 30


def test_export_needs_stored_results_and_a_known_exporter(demo_site):
    result = CliRunner().invoke(main, ["export", "--config", str(demo_site)])
    assert result.exit_code == 1 and "2026-10 has no stored results to export; run: kpi run --period 2026-10" in result.output
    kpi("run", "--config", str(demo_site))
    result = CliRunner().invoke(main, ["export", "--config", str(demo_site), "--exporter", "payrol"])
    assert result.exit_code == 1 and "no exporter named 'payrol' in the config; did you mean 'payroll'?" in result.output


def test_a_schema_2_ledger_is_upgraded_keeping_its_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'kpi.sqlite'}"
    Store.open(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the ledger as schema 2 made it, with one delivery
        conn.execute(sa.text("DROP TABLE export_ledger"))
        conn.execute(sa.text("CREATE TABLE export_ledger (id INTEGER PRIMARY KEY, exporter VARCHAR(64) NOT NULL, "
                             "period VARCHAR(32) NOT NULL, employee_id VARCHAR(64) NOT NULL, run_id INTEGER NOT NULL, "
                             "payload_hash VARCHAR(64) NOT NULL, destination TEXT NOT NULL, remote_id VARCHAR(255), "
                             "status VARCHAR(16) NOT NULL, sent_at BIGINT NOT NULL)"))
        conn.execute(sa.text("INSERT INTO export_ledger VALUES (1, 'payroll', '2026-10', 'E001', 1, 'h', 'f.csv', "
                             "NULL, 'delivered', 0)"))
        conn.execute(sa.text("UPDATE kpi_meta SET value = '2' WHERE key = 'schema_version'"))
    engine.dispose()
    store = Store.open(url)
    with store.transaction() as conn:
        assert store.schema_version(conn) == schema.SCHEMA_VERSION
        rows = store.ledger(conn, "payroll", "2026-10")
    store.close()
    assert [(r["employee_id"], r["status"], r["kind"], r["idempotency_key"]) for r in rows] == [
        ("E001", "delivered", None, None)]


def test_the_payroll_workbook_has_numbers_that_sum_to_the_store(demo_site):
    from decimal import Decimal

    from openpyxl import load_workbook
    demo_site.write_text(demo_site.read_text(encoding="utf-8") + '\n[[exporter]]\nname = "payroll-xlsx"\n'
                         'use = "payroll_xlsx"\ncolumns = ["employee_id", "name", "total", "performance_pay", '
                         '"deductions"]\n', encoding="utf-8")
    out = kpi("run", "--config", str(demo_site))
    path = demo_site.parent / "out" / "payroll-2026-10.xlsx"
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)  # ordinary permissions, not mkstemp's
    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("工号", "姓名", "考核总分", "绩效工资(元)", "扣减(元)")
    pay = {r[0]: r[3] for r in rows[1:] if r[3] is not None}
    assert all(isinstance(v, (int, float)) for v in pay.values())  # numbers a clerk can sum
    cards = {c["employee_id"]: c for c in out["scorecards"]}
    want = sum(Decimal(c["pay"]["amount"]) for c in cards.values() if c["pay"])
    assert Decimal(str(round(sum(pay.values()), 2))) == want
    e011 = next(r for r in rows if r[0] == "E011")
    assert e011 == ("E011", "徐勇", 31, 225, 75)  # base 300, paid 225: 75 deducted
