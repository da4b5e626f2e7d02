"""The generic rest_json connector, configured in site.toml alone, against a real HTTP server on
127.0.0.1: every paging style to the end, field mapping with value maps and time formats, bad items,
and the demo scored from an API instead of its tickets CSV with identical scorecards."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
from werkzeug import Response

from kpi.core.config import load_config
from kpi.core.errors import KpiError
from kpi.core.pipeline import run
from kpi.core.values import parse_datetime

# Fixtures (httpserver on 127.0.0.1, no_proxy, waits) and helpers shared with the vendor connectors' tests.
from test_helpdesk_connectors import httpserver, make_site, no_proxy, requests_to, source, stored, waits  # noqa: F401

ITEMS = [{"id": f"W{n}", "agent": {"id": "A1" if n % 2 else "A2"}, "created": f"2026-10-0{n} 09:00:00",
          "urgent": n == 3} for n in range(1, 8)]
SIZE = 3
COMMON = f"""name = "orders"
use = "rest_json"
kind = "ticket"
fields = {{ source_id = "id", person = "agent.id", created_at = "created", priority = "urgent" }}
value_map = {{ priority = {{ "true" = "urgent", "false" = "normal" }} }}
page_size = {SIZE}
"""


def paged_by(style: str, httpserver):
    """A handler serving ITEMS in pages of SIZE the way `style` pages."""

    def handler(request):
        args = request.args
        if style == "page":
            n = int(args["page"])
            return Response(json.dumps({"data": ITEMS[(n - 1) * SIZE:n * SIZE]}), content_type="application/json")
        if style == "offset":
            at = int(args["offset"])
            return Response(json.dumps({"rows": ITEMS[at:at + int(args["limit"])]}), content_type="application/json")
        at = int(args.get("cursor") or args.get("from") or 0)
        nxt = at + SIZE if at + SIZE < len(ITEMS) else None
        if style == "cursor":
            return Response(json.dumps({"items": ITEMS[at:at + SIZE], "next_cursor": nxt and str(nxt),
                                        "has_more": nxt is not None}), content_type="application/json")
        if style == "next_url":  # a relative link, resolved against the page it came in
            return Response(json.dumps({"items": ITEMS[at:at + SIZE], "links": {"next": nxt and f"/api/orders?from={nxt}"}}),
                            content_type="application/json")
        headers = {"Link": f'<{httpserver.url_for("/api/orders")}?from={nxt}>; rel="next", <x>; rel="first"'} if nxt else {}
        return Response(json.dumps(ITEMS[at:at + SIZE]), content_type="application/json", headers=headers)

    return handler


STYLES = {
    "page": ('paging = "page"\nitems = "data"', [{"per_page": "3", "page": str(n)} for n in (1, 2, 3, 4)]),
    "offset": ('paging = "offset"\nsize_param = "limit"\nitems = "rows"',
               [{"limit": "3", "offset": str(n)} for n in (0, 3, 6, 7)]),
    "next_url": ('paging = "next_url"\nnext_url = "links.next"\nitems = "items"', [{}, {"from": "3"}, {"from": "6"}]),
    "link": ('paging = "link"', [{}, {"from": "3"}, {"from": "6"}]),
    "cursor": ('paging = "cursor"\ncursor = "next_cursor"\nmore = "has_more"\nitems = "items"',
               [{}, {"cursor": "3"}, {"cursor": "6"}]),
}


@pytest.mark.parametrize("style", list(STYLES))
def test_every_paging_style_reads_to_the_end(style, tmp_path, httpserver, waits):
    httpserver.expect_request("/api/orders").respond_with_handler(paged_by(style, httpserver))
    settings, expected_queries = STYLES[style]
    site = make_site(tmp_path, f'{COMMON}url = "{httpserver.url_for("/api/orders")}"\n{settings}',
                     period="2026-10", people={"A1": "E001", "A2": "E002"})
    outcome = run(load_config(site))
    assert [r.args.to_dict() for r in requests_to(httpserver, "/api/orders")] == expected_queries
    assert stored(site, "SELECT source_id, employee_id, priority FROM rec_ticket ORDER BY source_id") == [
        (f"W{n}", "E001" if n % 2 else "E002", "urgent" if n == 3 else "normal") for n in range(1, 8)]
    assert source(outcome, "orders")["rows_read"] == 7 and source(outcome, "orders")["accepted"] == 7


def failed_pull(tmp_path, httpserver, settings: str) -> str:
    """The error of a run whose orders connector (with `settings`) fails; nothing of it is stored."""
    site = make_site(tmp_path, f'{COMMON}url = "{httpserver.url_for("/api/orders")}"\n{settings}',
                     period="2026-10", people={"A1": "E001"})
    with pytest.raises(KpiError) as err:
        run(load_config(site))
    assert str(err.value).startswith(f"connector 'orders': GET http://127.0.0.1:{httpserver.port}/api/orders")
    assert stored(site, "SELECT count(*) FROM rec_ticket") == [(0,)]
    return str(err.value)


def test_a_server_that_ignores_the_page_parameter_is_an_error_not_a_loop(tmp_path, httpserver, waits):
    httpserver.expect_request("/api/orders").respond_with_json({"data": ITEMS[:3]})
    message = failed_pull(tmp_path, httpserver, 'paging = "page"\nitems = "data"')
    assert "gave the same page twice; the server does not page the way the connector asks" in message
    assert len(httpserver.log) == 2


def test_bad_items_are_listed_and_nothing_is_stored_or_skipped_with_a_report(tmp_path, httpserver, waits):
    items = [dict(i) for i in ITEMS[:4]]
    items[1]["created"] = "2026-13-01 09:00:00"
    items[3]["created"] = {"at": "2026-10-04"}
    httpserver.expect_request("/api/orders").respond_with_json({"code": 0, "data": {"list": items}})
    site = make_site(tmp_path, f'{COMMON}url = "{httpserver.url_for("/api/orders")}"\nitems = "data.list"',
                     period="2026-10", people={"A1": "E001", "A2": "E002"})
    with pytest.raises(KpiError) as err:
        run(load_config(site))
    assert str(err.value).splitlines()[:3] == [
        "connector 'orders': 2 bad item(s); nothing from it was stored:",
        "  ticket W2: page 1, item 2: field created_at (JSON path 'created'): '2026-13-01 09:00:00' is not a "
        "date-time; write it as 2026-10-03 09:15:00",
        "  ticket W4: page 1, item 4: field created_at (JSON path 'created'): is a JSON object, not a value; "
        "point the path at a value inside it"]
    assert stored(site, "SELECT count(*) FROM rec_ticket") == [(0,)]

    site.write_text(site.read_text(encoding="utf-8") + 'on_error = "skip"\n', encoding="utf-8")
    outcome = run(load_config(site))
    report = source(outcome, "orders")
    assert report["rows_read"] == 4 and report["accepted"] == 2 and report["rejected"] == 2
    assert report["rejections"][0].startswith("orders: ticket W2: page 1, item 2: field created_at")
    assert stored(site, "SELECT source_id FROM rec_ticket ORDER BY source_id") == [("W1",), ("W3",)]


def test_mapping_mistakes_name_the_option(tmp_path, httpserver, waits):
    site = make_site(tmp_path, f'{COMMON.replace("person = ", "persn = ")}url = "{httpserver.url_for("/x")}"',
                     period="2026-10", people={})
    with pytest.raises(KpiError) as err:
        run(load_config(site))
    assert "connector 'orders': fields.persn is not a field of ticket records; did you mean 'person'?" in str(err.value)
    site = make_site(tmp_path, f'{COMMON}url = "{httpserver.url_for("/x")}"\nformats = {{ priority = "epoch" }}',
                     period="2026-10", people={})
    with pytest.raises(KpiError) as err:
        run(load_config(site))
    assert "formats.priority: formats are for the date and time fields of ticket records" in str(err.value)
    assert not httpserver.log


def test_a_timeout_fails_the_connector(tmp_path, httpserver, waits):
    def slow(request):
        time.sleep(0.6)
        return Response("[]", content_type="application/json")

    httpserver.expect_request("/api/orders").respond_with_handler(slow)
    message = failed_pull(tmp_path, httpserver, "timeout = 0.2\nretries = 1")
    assert "/api/orders failed: no answer within 0.2 s on all 2 attempts" in message
    assert waits == [1]


# --- the demo, from an API instead of its tickets CSV ---------------------------------------

CSV_TICKETS = """[[connector]]
name = "tickets"
use = "csv"
kind = "ticket"
path = "data/tickets.csv"
columns = { source_id = "ticket_id", person = "agent_id" }
"""

API_TICKETS = """[[connector]]
name = "tickets"
use = "rest_json"
kind = "ticket"
url = "URL"
token = "${DEMO_API_TOKEN}"
auth_prefix = "Bearer "
params = { from = "{start}", to = "{end}" }
time_format = "epoch"
paging = "page"
size_param = "size"
page_size = 500
items = "data.list"
fields = { source_id = "id", person = "handler.id", created_at = "createTime", first_reply_at = "firstReplyTime", resolved_at = "finishTime", priority = "level", channel = "source", reopens = "reopenCount" }
value_map = { priority = { "紧急" = "urgent", "普通" = "normal" } }
formats = { created_at = "epoch", first_reply_at = "%Y/%m/%d %H:%M:%S", resolved_at = "epoch_ms" }
"""


def demo_api_items(tickets_csv: Path) -> list[dict]:
    """The demo's tickets as an in-house work-order API might send them: epoch seconds and
    milliseconds, slashed local times, Chinese priority names, nested agent objects."""
    tz = "Asia/Shanghai"
    out = []
    with open(tickets_csv, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            out.append({"id": row["ticket_id"], "handler": {"id": row["agent_id"], "name": "…"},
                        "createTime": parse_datetime(row["created_at"], tz),
                        "firstReplyTime": row["first_reply_at"].replace("-", "/") or None,
                        "finishTime": parse_datetime(row["resolved_at"], tz) * 1000 if row["resolved_at"] else None,
                        "level": {"urgent": "紧急", "normal": "普通"}[row["priority"]], "source": row["channel"],
                        "reopenCount": int(row["reopens"])})
    return out


def test_the_demo_scores_the_same_from_an_api_as_from_its_csv(demo_site, httpserver, monkeypatch, waits):
    csv_run = run(load_config(demo_site))
    expected = [c.to_dict() for c in csv_run.scorecards]
    for f in demo_site.parent.glob("kpi.sqlite*"):
        f.unlink()  # a fresh store: every ticket must come from the API

    items = demo_api_items(demo_site.parent / "data" / "tickets.csv")

    def work_orders(request):
        if request.headers.get("Authorization") != "Bearer demo-T0KEN":
            return Response('{"code": 401, "msg": "invalid token"}', status=401)
        lo, hi, page, size = (int(request.args[k]) for k in ("from", "to", "page", "size"))
        chosen = [i for i in items if lo <= i["createTime"] < hi]
        return Response(json.dumps({"code": 0, "msg": "ok", "data": {"list": chosen[(page - 1) * size:page * size],
                                                                     "total": len(chosen)}}, ensure_ascii=False),
                        content_type="application/json")

    httpserver.expect_request("/api/work-orders").respond_with_handler(work_orders)
    monkeypatch.setenv("DEMO_API_TOKEN", "demo-T0KEN")
    text = demo_site.read_text(encoding="utf-8")
    assert CSV_TICKETS in text
    demo_site.write_text(text.replace(CSV_TICKETS, API_TICKETS.replace("URL", httpserver.url_for("/api/work-orders"))),
                         encoding="utf-8")
    api_run = run(load_config(demo_site))

    assert [c.to_dict() for c in api_run.scorecards] == expected
    lo = int(parse_datetime("2026-09-24 00:00:00", "Asia/Shanghai"))  # October, 7 days early
    hi = int(parse_datetime("2026-11-01 00:00:00", "Asia/Shanghai"))
    in_window = sum(lo <= i["createTime"] < hi for i in items)
    pages = requests_to(httpserver, "/api/work-orders")
    assert [r.args.to_dict() for r in pages] == [{"from": str(lo), "to": str(hi), "size": "500", "page": str(n)}
                                                 for n in range(1, len(pages) + 1)]
    assert len(pages) == in_window // 500 + 2  # the last page is the empty one
    assert stored(demo_site, "SELECT count(*) FROM rec_ticket WHERE source = 'tickets'") == [(in_window,)]
    assert source(api_run, "tickets")["accepted"] == in_window
