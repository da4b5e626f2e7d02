"""The HTML report: one self-contained file per period that a manager and an employee can read.

The page has the team's summary, a histogram of totals and the ranking, dimension averages by
role, every flag, then one scorecard per employee in the shape of seed 004's evaluation form
(评价维度 / 权重 / 评价指标 / 评分标准 / 得分 / 备注, then 优势总结 and 待改进项). CSS and charts
(SVG) are inline and there is no script, so it opens without a network and prints page by page.
Every text from the data is escaped. The ledger records one delivery per employee: the hash of
their section, so an unchanged scorecard is not counted as delivered again."""

from __future__ import annotations

import statistics
from decimal import Decimal
from html import escape
from typing import Any

from kpi.core import __version__, hookimpl
from kpi.core.decimals import tidy
from kpi.core.exporters import ExportReport, Ledger, RunResult
from kpi.core.options import Option
from kpi.core.scoring import Line, Scorecard, ranked

from . import report_svg
from .files import atomic_file, output_path

LABELS = {
    # key: (Chinese, English)
    "report": ("绩效考核报告", "Performance report"),
    "site": ("单位", "Site"),
    "period": ("考核周期", "Period"),
    "run": ("运行编号", "Run"),
    "scheme": ("考核方案", "Scheme"),
    "generated": ("生成自运行", "Generated from run"),
    "contents": ("目录", "Contents"),
    "summary": ("概况", "Summary"),
    "people": ("人数", "People"),
    "appraised": ("参加考核", "Appraised"),
    "not_appraised": ("未参加考核", "Not appraised"),
    "mean": ("平均分", "Mean total"),
    "median": ("中位数", "Median total"),
    "highest": ("最高分", "Highest"),
    "lowest": ("最低分", "Lowest"),
    "pay_sum": ("绩效工资合计", "Performance pay, sum"),
    "grades": ("等级分布", "Grades"),
    "distribution": ("得分分布", "Distribution of totals"),
    "count": ("人数", "People"),
    "ranking": ("排名", "Ranking"),
    "rank": ("名次", "Rank"),
    "id": ("工号", "ID"),
    "name": ("姓名", "Name"),
    "role": ("岗位", "Role"),
    "team": ("组别", "Team"),
    "department": ("所属部门", "Department"),
    "total": ("总分", "Total"),
    "grade": ("等级", "Grade"),
    "pay": ("绩效工资", "Performance pay"),
    "flags": ("标记", "Flags"),
    "dimensions": ("各维度平均分（按岗位）", "Dimension averages by role"),
    "dimension": ("评价维度", "Dimension"),
    "all_flags": ("标记与异常", "Flags and anomalies"),
    "code": ("代码", "Code"),
    "message": ("说明", "Message"),
    "no_flags": ("本期无标记。", "No flags this period."),
    "scorecards": ("个人考核表", "Scorecards"),
    "basic": ("（一）基本信息", "Basic information"),
    "appraisee": ("被评价人", "Employee"),
    "indicators": ("（二）评价指标与评分", "Indicators and scores"),
    "weight": ("权重", "Weight"),
    "indicator": ("评价指标", "Indicator"),
    "value": ("指标值", "Value"),
    "rule": ("评分标准", "Rule"),
    "matched": ("命中", "matched"),
    "points": ("得分", "Points"),
    "remarks": ("备注", "Remarks"),
    "subtotal": ("小计", "Subtotal"),
    "no_data": ("无数据", "no data"),
    "overall": ("（三）综合评价与发展建议", "Overall evaluation"),
    "strengths": ("优势总结", "Strengths"),
    "improve": ("待改进项", "To improve"),
    "none_to_improve": ("各项均为满分。", "Every indicator is at its maximum."),
    "none_strong": ("暂无突出项。", "No indicator stands out."),
    "below_max": ("低于满分", "below the maximum"),
    "notes": ("标记与说明", "Flags and notes"),
    "why_not": ("本期未参加考核", "Not appraised this period"),
    "back": ("返回排名", "Back to the ranking"),
}

SEVERITY = {"dismissal_review": "severe", "unfit": "severe", "calibration": "warn", "missing_data": "warn",
            "anomaly": "warn", "not_appraised": "info", "probation": "info"}
CENT = Decimal("0.01")


class Labels:
    """Labels and bilingual names in the report's language: zh, en, or both (Chinese first)."""

    def __init__(self, language: str):
        self.language = language

    def pair(self, zh: str, en: str) -> str:
        """HTML: in `both`, the English in a span of its own (lang="en")."""
        zh, en = zh or en, en or zh
        if self.language == "both" and zh != en:
            return f'{escape(zh)} <span class="en" lang="en">{escape(en)}</span>'
        return escape(self.plain_pair(zh, en))

    def plain_pair(self, zh: str, en: str) -> str:
        """Text, for SVG labels and the page's title."""
        zh, en = zh or en, en or zh
        if self.language == "zh" or zh == en:
            return zh
        return en if self.language == "en" else f"{zh} {en}"

    def __call__(self, key: str) -> str:
        return self.pair(*LABELS[key])

    def plain(self, key: str) -> str:
        return self.plain_pair(*LABELS[key])

    def name(self, name: Any, fallback: str = "") -> str:
        return self.pair(*_pair(name, fallback))

    def plain_name(self, name: Any, fallback: str = "") -> str:
        return self.plain_pair(*_pair(name, fallback))


def _pair(name: Any, fallback: str) -> tuple[str, str]:
    """(Chinese, English) of a name given as {"zh": …, "en": …} or a plain string."""
    if isinstance(name, dict) and (name.get("zh") or name.get("en")):
        return name.get("zh", ""), name.get("en", "")
    text = str(name or "") if not isinstance(name, dict) else ""
    return text or fallback, text or fallback


def num(d: Decimal | None, places: Decimal | None = None) -> str:
    """A figure as a person writes it (24, 92.5); `places` rounds it for display."""
    if d is None:
        return "–"
    return format(tidy(d.quantize(places) if places is not None else d), "f")


def money(d: Decimal) -> str:
    return format(d.quantize(CENT), "f")


def attainment(line: Line, dimension_max: Decimal | None) -> Decimal | None:
    """How near a line came to its maximum: points / max points. A deduction-only line (maximum 0)
    counts only when it deducted, measured against its dimension's maximum (−20 in a 15-point
    dimension → 1 − 20/15). None when the line says nothing either way (no data, no deduction)."""
    if line.value is None:
        return None
    if line.max_points is not None and line.max_points > 0:
        return line.points / line.max_points
    if line.points < 0 and dimension_max:
        return 1 + line.points / dimension_max
    return None


def strengths_and_gaps(card: Scorecard, n: int = 2) -> tuple[list[Line], list[Line]]:
    """The n indicators closest to their maximum and the n furthest below it (never the same one)."""
    dim_max = {d.id: d.max_points for d in card.dimensions}
    scored = [(a, i, line) for i, line in enumerate(card.lines)
              if (a := attainment(line, dim_max.get(line.dimension))) is not None]
    best = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], -(s[2].max_points or 0), s[1]))[:n]
    taken = {s[1] for s in best}
    worst = sorted((s for s in scored if s[0] < 1 and s[1] not in taken),
                   key=lambda s: (s[0], -lost(s[2]), s[1]))[:n]
    return [s[2] for s in best], [s[2] for s in worst]


def lost(line: Line) -> Decimal:
    return max(line.max_points or Decimal(0), Decimal(0)) - line.points


class HtmlReport:
    options = {
        "path": Option("str", default="report-{period}.html",
                       help="file name; {period} is replaced; relative paths are under [output] dir"),
        "language": Option("str", default="both", choices=("zh", "en", "both"),
                           help="labels in Chinese, English or both"),
        "title": Option("str", help="the page's title (default: the site's name and the period)"),
    }

    def __init__(self, name: str, options: dict, site):
        self.name = name
        self.opts = options
        self.site = site
        self.t = Labels(options["language"])

    def export(self, result: RunResult, ledger: Ledger) -> ExportReport:
        path = output_path(self.opts["path"], result.period.label, self.site)
        report = ExportReport(self.name, str(path))
        page = Page(result, self.t, self.opts.get("title"))
        sections = {card.employee_id: page.scorecard(card) for card in page.cards}
        # What each person is sent is their section of the page; the rest of the page (the run id,
        # the team's figures) changes with others' results and is not theirs.
        todo, report.unchanged = ledger.plan({emp: {"section": html} for emp, html in sections.items()}, str(path))
        report.delivered = [d.employee_id for d in todo]
        if ledger.dry_run:
            return report
        with atomic_file(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(page.render(sections))
        ledger.delivered(todo, str(path))
        return report


class Page:
    """One period's report page, built from a run's result."""

    def __init__(self, result: RunResult, t: Labels, title: str | None):
        self.result, self.t = result, t
        self.ranked = ranked(result.scorecards)
        self.rank = {c.employee_id: r for r, c in self.ranked}
        self.cards = sorted(result.scorecards, key=lambda c: c.employee_id)
        self.appraised = [c for c in self.cards if c.eligible and c.total is not None]
        self.describe = _describe(result.scheme)
        self.roles = {r["id"]: r.get("name") for r in self.describe.get("roles") or []}
        self.rules = {(d["id"], i["id"]): i.get("text") or i.get("rule", "")
                      for d in self.describe.get("dimensions") or [] for i in d.get("indicators") or []}
        p = result.period
        self.title = title or f"{result.site.name} · {t.plain('report')} · {p.label}"

    # -- the page --------------------------------------------------------------------------------

    def render(self, sections: dict[str, str]) -> str:
        t = self.t
        body = [self.header(), self.summary(), self.distribution(), self.ranking(), self.dimensions(),
                self.flags(), f'<section id="scorecards"><h2>{t("scorecards")}</h2>',
                *sections.values(), "</section>",
                f'<footer>kpi {escape(__version__)} · {t("generated")} {self.result.run_id}</footer>']
        lang = "en" if t.language == "en" else "zh-CN"
        return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                f'<meta name="generator" content="kpi {escape(__version__)}">\n'
                f"<title>{escape(self.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
                + "\n".join(body) + "\n</body>\n</html>\n")

    def header(self) -> str:
        t, r, p = self.t, self.result, self.result.period
        scheme = r.scheme
        rows = [("site", escape(r.site.name)),
                ("period", f"{escape(p.label)} ({p.start} – {p.end})"),
                ("run", str(r.run_id)),
                ("scheme", f"{t.name(getattr(scheme, 'name', ''))} · {escape(str(getattr(scheme, 'id', '')))} "
                           f"{escape(str(getattr(scheme, 'version', '')))}"),
                ("generated", f"{r.run_id} · kpi {escape(__version__)}")]
        nav = " · ".join(f'<a href="#{a}">{t(k)}</a>' for a, k in
                         (("summary", "summary"), ("distribution", "distribution"), ("ranking", "ranking"),
                          ("dimensions", "dimensions"), ("flags", "all_flags"), ("scorecards", "scorecards")))
        return (f'<header><h1>{escape(self.title)}</h1><dl class="meta">'
                + "".join(f"<dt>{t(k)}</dt><dd>{v}</dd>" for k, v in rows)
                + f'</dl><nav aria-label="{escape(t.plain("contents"))}">{nav}</nav></header>')

    def summary(self) -> str:
        t = self.t
        totals = [c.total for c in self.appraised]
        pay = sum((c.pay.amount for c in self.cards if c.pay), Decimal(0))
        figures = [("people", len(self.cards)), ("appraised", len(self.appraised)),
                   ("not_appraised", len(self.cards) - len(self.appraised)),
                   ("mean", num(statistics.mean(totals), CENT) if totals else "–"),
                   ("median", num(statistics.median(totals), CENT) if totals else "–"),
                   ("highest", num(max(totals)) if totals else "–"), ("lowest", num(min(totals)) if totals else "–"),
                   ("pay_sum", money(pay))]
        grades = [g["grade"] for g in self.describe.get("grades") or []]
        grades += sorted({c.grade for c in self.appraised if c.grade and c.grade not in grades})
        counts = "".join(f'<td class="num">{sum(c.grade == g for c in self.appraised)}</td>' for g in grades)
        return (f'<section id="summary"><h2>{t("summary")}</h2><table class="figures"><tbody>'
                + "".join(f'<tr><th scope="row">{t(k)}</th><td class="num">{v}</td></tr>' for k, v in figures)
                + f'</tbody></table><table class="grades"><caption>{t("grades")}</caption><thead><tr>'
                + "".join(f"<th>{escape(g)}</th>" for g in grades) + f"</tr></thead><tbody><tr>{counts}</tr></tbody>"
                + "</table></section>")

    def distribution(self) -> str:
        t = self.t
        svg = report_svg.histogram([c.total for c in self.appraised], t.plain("distribution"), t.plain("total"),
                                   t.plain("count"))
        return f'<section id="distribution"><h2>{t("distribution")}</h2><figure>{svg}</figure></section>'

    def ranking(self) -> str:
        t = self.t
        head = "".join(f"<th>{t(k)}</th>" for k in ("rank", "id", "name", "role", "total", "grade", "pay", "flags"))
        rows = []
        for rank, c in self.ranked:
            codes = ", ".join(sorted({f.code for f in c.flags}))
            rows.append(f'<tr data-emp="{escape(c.employee_id)}"><td class="num">{rank or "–"}</td>'
                        f'<td><a href="#emp-{escape(c.employee_id)}">{escape(c.employee_id)}</a></td>'
                        f"<td>{escape(c.name)}</td><td>{self.role(c.role)}</td>"
                        f'<td class="num total">{num(c.total)}</td><td>{escape(c.grade or "–")}</td>'
                        f'<td class="num">{money(c.pay.amount) if c.pay else "–"}</td>'
                        f"<td>{escape(codes)}</td></tr>")
        return (f'<section id="ranking"><h2>{t("ranking")}</h2><table class="ranking"><thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(rows)}</tbody></table></section>')

    def dimensions(self) -> str:
        """Mean points and mean weight of each dimension, by role (weights may differ by role)."""
        t = self.t
        order = list(self.roles)  # the scheme's order of roles, then any it does not name
        roles = sorted({c.role for c in self.appraised},
                       key=lambda r: (order.index(r) if r in order else len(order), r))
        dims: dict[str, Any] = {}
        for c in self.appraised:
            for d in c.dimensions:
                dims.setdefault(d.id, (d.name, {}))[1].setdefault(c.role, []).append(d)
        if not dims:
            return f'<section id="dimensions"><h2>{t("dimensions")}</h2></section>'
        means = {(dim, role): (statistics.mean(d.points for d in ds), statistics.mean(d.weight for d in ds))
                 for dim, (_, by_role) in dims.items() for role, ds in by_role.items()}
        groups = [(t.plain_name(name, dim), [means.get((dim, r), (Decimal(0), Decimal(0))) for r in roles])
                  for dim, (name, _) in dims.items()]
        svg = report_svg.grouped_bars(groups, [self.role_plain(r) for r in roles], t.plain("dimensions"))
        head = f'<th>{t("dimension")}</th>' + "".join(f"<th>{self.role(r)}</th>" for r in roles)
        body = "".join(
            f"<tr><th scope=\"row\">{t.name(name, dim)}</th>"
            + "".join(f'<td class="num">{_mean_cell(means.get((dim, r)))}</td>' for r in roles) + "</tr>"
            for dim, (name, _) in dims.items())
        return (f'<section id="dimensions"><h2>{t("dimensions")}</h2><figure>{svg}</figure>'
                f'<table class="dims"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>')

    def flags(self) -> str:
        t = self.t
        rows = [f'<tr class="{SEVERITY.get(f.code, "warn")}"><td><a href="#emp-{escape(c.employee_id)}">'
                f"{escape(c.employee_id)}</a></td><td>{escape(c.name)}</td><td><code>{escape(f.code)}</code></td>"
                f"<td>{escape(f.message)}</td></tr>" for c in self.cards for f in c.flags]
        head = "".join(f"<th>{t(k)}</th>" for k in ("id", "name", "code", "message"))
        table = (f'<table class="flags"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
                 if rows else f"<p>{t('no_flags')}</p>")
        return f'<section id="flags"><h2>{t("all_flags")}</h2>{table}</section>'

    # -- one employee ----------------------------------------------------------------------------

    def scorecard(self, card: Scorecard) -> str:
        """An employee's evaluation form (seed 004's shape). Also the payload the ledger hashes."""
        t = self.t
        emp = self.result.employees.get(card.employee_id)
        rank = self.rank.get(card.employee_id)
        basic = [("appraisee", f"{escape(card.employee_id)} {escape(card.name)}"), ("role", self.role(card.role)),
                 ("department", escape(emp.department if emp else "")), ("team", escape(emp.team if emp else "")),
                 ("period", escape(card.period)),
                 ("rank", f"{rank} / {len(self.appraised)}" if rank else "–")]
        out = [f'<article class="card" id="emp-{escape(card.employee_id)}">',
               f'<h3>{escape(card.employee_id)} {escape(card.name)}'
               + (f' <span class="grade">{escape(card.grade)}</span>' if card.grade else "") + "</h3>",
               f'<h4>{t("basic")}</h4><table class="basic"><tbody><tr>'
               + "".join(f"<th>{t(k)}</th><td>{v}</td>" + ("</tr><tr>" if i == 2 else "")
                         for i, (k, v) in enumerate(basic)) + "</tr></tbody></table>"]
        if not card.eligible:
            reasons = "".join(f"<li><code>{escape(f.code)}</code> {escape(f.message)}</li>" for f in card.flags)
            out.append(f'<p class="why-not"><strong>{t("why_not")}</strong></p><ul>{reasons}</ul>')
        else:
            out += [self.form(card), self.overall(card), self.notes(card)]
        out.append(f'<p class="back"><a href="#ranking">{t("back")}</a></p></article>')
        return "\n".join(out)

    def form(self, card: Scorecard) -> str:
        t = self.t
        by_dim: dict[str, list[Line]] = {}
        for line in card.lines:
            by_dim.setdefault(line.dimension, []).append(line)
        head = "".join(f"<th>{t(k)}</th>" for k in ("dimension", "weight", "indicator", "value", "rule", "points",
                                                      "remarks"))
        rows = []
        for d in card.dimensions:
            lines = by_dim.get(d.id, [])
            span = len(lines) + 1
            first = (f'<th scope="rowgroup" rowspan="{span}" class="dim">{t.name(d.name, d.id)}</th>'
                     f'<td rowspan="{span}" class="num">{num(d.weight)}</td>')
            for line in lines:
                rows.append(f'<tr class="line" data-indicator="{escape(line.indicator)}">{first}'
                            f"{self.line(d.id, line)}</tr>")
                first = ""
            adjustments = "".join(f"<br>{escape(a)}" for a in d.adjustments)
            rows.append(f'<tr class="subtotal">{first}<td colspan="3">{t("subtotal")}</td>'
                        f'<td class="num">{num(d.points)}</td><td>{num(d.raw)} / {num(d.max_points)} × '
                        f"{num(d.weight)} = {num(d.points)}{adjustments}</td></tr>")
        parts = " + ".join(num(d.points) for d in card.dimensions)
        pay = (f'<br>{t("pay")}: <strong>{money(card.pay.amount)} {escape(card.pay.currency)}</strong>'
               f" — {escape(card.pay.explanation)}" if card.pay else "")
        rows.append(f'<tr class="total"><th scope="row" colspan="5">{t("total")}</th>'
                    f'<td class="num"><strong>{num(card.total)}</strong></td>'
                    f'<td>{parts} = {num(card.total)} · {t("grade")} <strong>{escape(card.grade or "–")}</strong>'
                    f"{pay}</td></tr>")
        cols = "".join(f'<col style="width:{w}%">' for w in (11, 7, 20, 8, 21, 7, 26))
        return (f'<h4>{t("indicators")}</h4><table class="form"><colgroup>{cols}</colgroup>'
                f"<thead><tr>{head}</tr></thead>"
                f'<tbody>{"".join(rows)}</tbody></table>')

    def line(self, dimension: str, line: Line) -> str:
        t = self.t
        if line.value is None:
            value = f'<span class="nodata">{t("no_data")}</span>'
        elif line.value.as_tuple().exponent < -2:
            value = f'<span title="{escape(num(line.value))}">{num(line.value, CENT)}</span>'
        else:
            value = num(line.value)
        rule = self.rules.get((dimension, line.indicator)) or line.rule
        points = num(line.points) + (f'<span class="max"> / {num(line.max_points)}</span>'
                                     if line.max_points else "")
        remarks = escape(line.explanation) + "".join(f"<br>{escape(a)}" for a in line.adjustments)
        metric = f'<br><code>{escape(line.metric)}</code>' if line.metric else ""
        return (f"<td>{t.name(line.name, line.indicator)}{metric}</td><td class=\"num\">{value}</td>"
                f'<td><span class="rule">{escape(rule)}</span><br><span class="matched">{t("matched")}: '
                f"{escape(line.matched)}</span></td><td class=\"num\">{points}</td><td>{remarks}</td>")

    def overall(self, card: Scorecard) -> str:
        t = self.t
        strengths, gaps = strengths_and_gaps(card)

        def item(line: Line, gap: bool) -> str:
            share = (f" ({num(line.points / line.max_points * 100, Decimal(1))}%)"
                     if line.max_points and line.max_points > 0 else "")
            shortfall = f", {num(lost(line))} {t('below_max')}" if gap else ""
            return (f"<li><strong>{t.name(line.name, line.indicator)}</strong>: {num(line.points)}"
                    + (f" / {num(line.max_points)}" if line.max_points else "")
                    + f"{share}{shortfall} — {escape(line.explanation)}</li>")

        good = "".join(item(x, False) for x in strengths) or f"<li>{t('none_strong')}</li>"
        bad = "".join(item(x, True) for x in gaps) or f"<li>{t('none_to_improve')}</li>"
        return (f'<h4>{t("overall")}</h4><div class="overall"><div class="strengths"><h5>{t("strengths")}</h5>'
                f'<ul>{good}</ul></div><div class="improve"><h5>{t("improve")}</h5><ul>{bad}</ul></div></div>')

    def notes(self, card: Scorecard) -> str:
        items = [f'<li class="{SEVERITY.get(f.code, "warn")}"><code>{escape(f.code)}</code> {escape(f.message)}</li>'
                 for f in card.flags] + [f"<li>{escape(n)}</li>" for n in card.notes]
        return f'<h4>{self.t("notes")}</h4><ul class="notes">{"".join(items)}</ul>' if items else ""

    def role(self, role: str) -> str:
        return self.t.name(self.roles.get(role), role)

    def role_plain(self, role: str) -> str:
        return self.t.plain_name(self.roles.get(role), role)


def _mean_cell(mean: tuple[Decimal, Decimal] | None) -> str:
    if mean is None:
        return "–"
    points, weight = mean
    share = f" ({num(points / weight * 100, Decimal(1))}%)" if weight else ""
    return f"{num(points, CENT)} / {num(weight, CENT)}{share}"


def _describe(scheme: Any) -> dict[str, Any]:
    """The scheme's own description (rule texts, role names, grades), when it gives one; a scheme
    written in Python may not, and the report then shows each line's rule type."""
    try:
        return scheme.describe() or {}
    except Exception:  # noqa: BLE001 - optional: a scheme without a description still gets a report
        return {}


CSS = """
:root { --ink: #1a1a1a; --muted: #555; --rule: #bbb; --band: #f3f5f8; --severe: #a4001d; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { font-family: system-ui, "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC",
       "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; color: var(--ink); background: #fff;
       margin: 0 auto; max-width: 1180px; padding: 16px 24px; font-size: 14px; line-height: 1.45; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 18px; border-bottom: 2px solid var(--ink);
padding-bottom: 2px; margin-top: 28px; } h3 { font-size: 17px; margin: 0 0 6px; } h4 { font-size: 15px;
margin: 14px 0 6px; } h5 { font-size: 14px; margin: 4px 0; }
.en { color: var(--muted); font-weight: normal; font-size: .9em; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0 0 8px; }
dl.meta dt { font-weight: bold; } dl.meta dd { margin: 0; }
nav a { margin-right: 4px; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid var(--rule); padding: 3px 7px; text-align: left; vertical-align: top; }
thead th { background: var(--band); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.figures, table.grades { display: inline-table; margin-right: 24px; vertical-align: top; }
table.grades caption { text-align: left; font-weight: bold; }
table.ranking, table.form, table.flags, table.dims { width: 100%; }
table.form { table-layout: fixed; } table.form td, table.form th { overflow-wrap: anywhere; }
table.form .dim { background: var(--band); } table.form code { font-size: .85em; color: var(--muted); }
table.form tr.subtotal td { background: #fafafa; font-style: italic; }
table.form tr.total th, table.form tr.total td { border-top: 2px solid var(--ink); }
.rule { color: var(--muted); } .matched { font-weight: bold; } .max { color: var(--muted); }
.nodata { color: var(--warn); font-weight: bold; }
tr.severe td, li.severe { color: var(--severe); } tr.warn td, li.warn { color: var(--warn); }
tr.info td, li.info { color: var(--muted); }
figure { margin: 8px 0; } svg.chart { max-width: 100%; height: auto; font-family: inherit; }
svg .axis { stroke: var(--ink); } svg .track { fill: var(--band); } svg text { fill: var(--ink); }
svg .label { font-weight: bold; }
article.card { border-top: 3px double var(--ink); margin-top: 26px; padding-top: 10px; }
.grade { display: inline-block; border: 2px solid var(--ink); padding: 0 8px; margin-left: 6px; }
.overall { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.overall ul, ul.notes { margin: 0; padding-left: 20px; }
.why-not { font-size: 15px; } p.back { font-size: 12px; text-align: right; margin: 6px 0 0; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@page { size: A4; margin: 10mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 9pt; line-height: 1.3; } nav, p.back { display: none; }
  th, td { padding: 2px 5px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  article.card { break-before: page; border-top: none; }
  h2, h3, h4, h5 { break-after: avoid; } #scorecards > h2 { break-before: page; }
  #scorecards > h2 + article.card { break-before: avoid; }
  tr, li, figure { break-inside: avoid; } thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
}
"""


@hookimpl
def kpi_register_exporters(register):
    register("html_report", HtmlReport)
