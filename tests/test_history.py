"""Rules over consecutive periods, end to end: the demo scored month by month, each month's
streak flags following from the totals and places that the earlier runs stored."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from kpi.core.cli import main
from kpi.core.scoring import standings

PACK = Path(__file__).resolve().parents[1] / "plugins" / "schemes" / "packs" / "recycling.toml"
STREAKS = """
[[streak]]
id = "low_two"
periods = 2
total = { lt = 75 }
message = "below 75 two months in a row"

[[streak]]
id = "last_three"
periods = 3
place = "last"
message = "last place three months in a row"
"""


def run(site: Path, period: str) -> dict:
    result = CliRunner().invoke(main, ["run", "--config", str(site), "--period", period, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def table(out: dict) -> dict:
    rows = [(c["employee_id"], c["eligible"], None if c["total"] is None else Decimal(c["total"]))
            for c in out["scorecards"]]
    return standings(rows)


def flags(out: dict, code: str) -> set[str]:
    return {c["employee_id"] for c in out["scorecards"] if code in [f["code"] for f in c["flags"]]}


def test_streaks_follow_the_stored_results_of_earlier_months(demo_site):
    (demo_site.parent / "streaks.toml").write_text(PACK.read_text(encoding="utf-8") + STREAKS, encoding="utf-8")
    text = demo_site.read_text(encoding="utf-8").replace('use = "recycling"', 'file = "streaks.toml"')
    demo_site.write_text(text, encoding="utf-8")

    # October alone: September was never scored, so no streak can be counted, and the run says so.
    alone = run(demo_site, "2026-10")
    assert "no results stored for 2026-09" in " ".join(alone["warnings"])
    assert not flags(alone, "low_two") and not flags(alone, "last_three")

    aug, sep = run(demo_site, "2026-08"), run(demo_site, "2026-09")
    assert "no results stored for 2026-07" in " ".join(aug["warnings"])
    oct_ = run(demo_site, "2026-10")  # a re-run: October now has two months behind it
    a, s, o = table(aug), table(sep), table(oct_)

    def low(t, e):
        return t[e].eligible and t[e].total < 75

    want_low = {e for e in o if low(o, e) and e in s and low(s, e)}
    want_last = {e for e in o if o[e].last and s.get(e) and s[e].last and a.get(e) and a[e].last}
    assert want_low, "the demo should have people below 75 in both months"
    assert flags(oct_, "low_two") == want_low
    assert flags(oct_, "last_three") == want_last
    assert flags(sep, "low_two") == {e for e in s if low(s, e) and e in a and low(a, e)}
    # the flag shows both months' totals
    e = sorted(want_low)[0]
    message = next(f["message"] for c in oct_["scorecards"] if c["employee_id"] == e for f in c["flags"]
                   if f["code"] == "low_two")
    assert f"2026-10: {o[e].total.normalize():f}" in message and "2026-09: " in message


def test_a_quarter_is_the_mean_of_its_months_stored_results(demo_site):
    from decimal import ROUND_HALF_UP
    (demo_site.parent / "quarterly.toml").write_text(
        PACK.read_text(encoding="utf-8") + '\n[aggregate]\nquarterly = "mean"\n', encoding="utf-8")
    text = demo_site.read_text(encoding="utf-8").replace('use = "recycling"', 'file = "quarterly.toml"')
    demo_site.write_text(text, encoding="utf-8")

    early = CliRunner().invoke(main, ["run", "--config", str(demo_site), "--period", "2026-Q3"])
    assert early.exit_code == 1
    assert "2026-Q3 is made of its months' results, and 2026-07, 2026-08, 2026-09 have none stored" in early.output

    months = {m: table(run(demo_site, m)) for m in ("2026-07", "2026-08", "2026-09")}
    quarter = run(demo_site, "2026-Q3")
    assert quarter["period"] == "2026-Q3"
    for card in quarter["scorecards"]:
        standing = [months[m].get(card["employee_id"]) for m in months]  # absent: not yet employed
        got = [st.total for st in standing if st is not None and st.eligible]
        if not got:
            assert not card["eligible"]
            continue
        want = (sum(got, Decimal(0)) / len(got)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert Decimal(card["total"]) == want, card["employee_id"]
        note = card["notes"][0]
        assert card["pay"] is None and note.startswith("2026-Q3 = mean of ") and f"= {want.normalize():f}" in note
        for m, st in zip(months, standing):
            shown = f"{m} {st.total.normalize():f}" if st is not None and st.eligible else m
            assert shown in note, (card["employee_id"], m, note)
