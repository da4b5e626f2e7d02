"""The HTML report (issue 5, item 5): the demo's page for 2026-10, read with the stdlib parser, then
rendered in headless Chromium (Debian's chromium package), which must show every employee's
scorecard. The screenshot is kept as a test artefact in tests/artefacts/ (ignored by git)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpi.core.cli import main

ARTEFACTS = Path(__file__).resolve().parent / "artefacts"
PEOPLE = [f"E{n:03d}" for n in range(1, 31)]
HAND = {"E011": "31", "E021": "92", "E027": "83.17"}  # worked out by hand at the top of tests/test_demo.py
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


class Outline(HTMLParser):
    """What the tests read off a page: element ids, the ranking's rows and totals, each card's
    total, charts, anything that would fetch from elsewhere, the declared charset."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.ranking: list[tuple[str, str]] = []  # (employee id, total) in the table's order
        self.card_totals: dict[str, str] = {}
        self.fetches: list[str] = []  # <script>, <link>, src=, @import, url(
        self.charset: str | None = None
        self.svgs = 0
        self._row: str | None = None
        self._card: str | None = None
        self._capture: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"])
            if a["id"].startswith("emp-"):
                self._card = a["id"][4:]
        if tag == "meta" and "charset" in a:
            self.charset = a["charset"]
        if tag in ("script", "link", "iframe", "object", "embed") or "src" in a or "srcset" in a:
            self.fetches.append(f"<{tag} {a}>")
        if tag == "svg":
            self.svgs += 1
        if tag == "tr" and "data-emp" in a:
            self._row = a["data-emp"]
        if tag == "td" and self._row and "total" in (a.get("class") or "").split():
            self._capture = "ranking"
        if tag == "tr" and "total" in (a.get("class") or "").split() and self._card:
            self._capture = "card"

    def handle_data(self, data):
        if "@import" in data or "url(" in data:
            self.fetches.append(data.strip()[:80])
        if self._capture == "ranking" and data.strip():
            self.ranking.append((self._row, data.strip()))
            self._capture = self._row = None
        elif self._capture == "card" and re.fullmatch(r"-?\d+(\.\d+)?", data.strip()):
            self.card_totals[self._card] = data.strip()
            self._capture = None


def outline(html: str) -> Outline:
    parser = Outline()
    parser.feed(html)
    parser.close()
    return parser


def run_demo(site: Path) -> dict:
    result = CliRunner().invoke(main, ["run", "--config", str(site), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def report_export(out: dict) -> dict:
    return next(e for e in out["exports"] if e["exporter"] == "report")


def article(html: str, emp: str) -> str:
    start = html.index(f'<article class="card" id="emp-{emp}">')
    return html[start:html.index("</article>", start)]


def test_the_demo_report_has_every_scorecard_and_the_ranking(demo_site):
    out = run_demo(demo_site)
    path = demo_site.parent / "out" / "report-2026-10.html"
    raw = path.read_bytes()
    html = raw.decode("utf-8")  # strict: the file is UTF-8
    page = outline(html)

    assert page.charset == "utf-8" and b'<meta charset="utf-8">' in raw[:1024]
    assert [i for i in page.ids if i.startswith("emp-")] == [f"emp-{e}" for e in PEOPLE]
    assert {"summary", "distribution", "ranking", "dimensions", "flags", "scorecards"} <= set(page.ids)
    # Self-contained: nothing fetched, no address of anywhere.
    assert page.fetches == []
    assert "http://" not in html and "https://" not in html
    assert page.svgs == 2  # the histogram and the dimension averages

    # The ranking is the run's: the order and totals of `kpi run --json`, E013 last and unranked.
    expected = [(c["employee_id"], c["total"] if c["total"] is not None else "–") for c in out["scorecards"]]
    assert page.ranking == expected
    assert page.ranking[-1] == ("E013", "–")
    for emp, total in HAND.items():
        assert page.card_totals[emp] == total

    # Chinese and English labels, and the seed-004 form of each card.
    for text in ("评价指标", "Indicator", "评分标准", "得分", "备注", "优势总结", "待改进项", "徐勇", "绩效考核报告"):
        assert text in html, text
    e011 = article(html, "E011")
    assert "0 − 5 × 4 = -20" in e011 and "-10 raised to the floor 0" in e011  # remarks: explanation, adjustments
    assert "225.00 CNY" in e011 and "raised to the specialist floor of 75%" in e011
    assert "dismissal_review" in e011
    strengths, improve = e011.split('<div class="improve">')
    assert "紧急诉求12小时内响应并处置" in strengths and "迟到早退" in strengths  # 10/10 and 8/8
    assert "旷工" in improve and "月度客户满意度" in improve  # −20 in a 15-point dimension; 0 of 30
    e013 = article(html, "E013")
    assert "本期未参加考核" in e013 and "on probation until 2026-11-30" in e013
    flags = html[html.index('<section id="flags">'):html.index('<section id="scorecards">')]
    assert "dismissal_review" in flags and "probation" in flags
    assert report_export(out)["delivered"] == 30


def test_an_unchanged_report_is_not_delivered_again(demo_site):
    assert report_export(run_demo(demo_site))["delivered"] == 30
    again = report_export(run_demo(demo_site))
    assert (again["delivered"], again["unchanged"]) == (0, 30)
    # English labels only: every section reads differently, so every one is delivered as a correction.
    text = demo_site.read_text(encoding="utf-8")
    demo_site.write_text(text.replace('use = "html_report"', 'use = "html_report"\nlanguage = "en"'), encoding="utf-8")
    english = report_export(run_demo(demo_site))
    assert (english["delivered"], english["unchanged"]) == (30, 0)
    html = (demo_site.parent / "out" / "report-2026-10.html").read_text(encoding="utf-8")
    assert "Indicator" in html and "评价指标" not in html and '<html lang="en">' in html


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with a new empty profile and no background networking, killed (with its
    child processes) after 60 s."""
    profile.mkdir()
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium {' '.join(args)} did not finish in 60 s")
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_the_report_renders_in_headless_chromium(demo_site, tmp_path):
    binary = chromium()
    if binary is None:
        pytest.skip("chromium is not installed: apt-get install chromium (.ci/run installs it)")
    run_demo(demo_site)
    url = (demo_site.parent / "out" / "report-2026-10.html").as_uri()

    dom = run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = outline(dom.stdout)
    assert [i for i in page.ids if i.startswith("emp-")] == [f"emp-{e}" for e in PEOPLE]
    assert dict(page.ranking)["E011"] == "31" and dict(page.ranking)["E021"] == "92"
    assert dict(page.ranking)["E027"] == "83.17"
    assert {emp: page.card_totals[emp] for emp in HAND} == HAND
    assert page.svgs == 2

    png = tmp_path / "report.png"
    shot = run_chromium(binary, tmp_path / "profile-shot", f"--screenshot={png}", "--window-size=1280,4000", url)
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1280, 4000)
    assert len(data) > 100_000, "the screenshot is nearly empty"  # a blank page of this size is ~10 kB
    ARTEFACTS.mkdir(exist_ok=True)
    shutil.copyfile(png, ARTEFACTS / "report-2026-10.png")
    fc_list = shutil.which("fc-list")
    fonts = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True).stdout if fc_list else ""
    if not fonts.strip():
        warnings.warn("no Chinese font installed: the screenshot shows boxes for Chinese text "
                      "(apt-get install fonts-noto-cjk; .ci/run installs it)")
