"""The Zendesk, Freshdesk and Zammad connectors through the real pipeline, against a real HTTP server
on 127.0.0.1 serving recorded responses (tests/fixtures/helpdesk) and pages built from the vendors'
documentation: the requests they make, the records they store, what they report, and what a
failure midway leaves behind (nothing from that connector; earlier results untouched)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug import Response

from kpi.core.config import load_config
from kpi.core.errors import ConfigError, KpiError
from kpi.core.pipeline import run
from kpi.plugins.connectors import http

FIXTURES = Path(__file__).parent / "fixtures" / "helpdesk"
SHANGHAI_DAY_START = 16 * 3600  # local midnight in Asia/Shanghai is 16:00 UTC the day before


@pytest.fixture
def httpserver(httpserver_ipv4):
    """pytest-httpserver's server, listening on 127.0.0.1."""
    return httpserver_ipv4


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def waits(monkeypatch):
    """The waits the connectors ask for (recorded instead of slept)."""
    asked: list[float] = []
    monkeypatch.setattr(http, "SLEEP", asked.append)
    return asked


def fixture(path: str):
    """A fixture file's body: a recorded exchange's response body, or a bare body."""
    data = json.loads((FIXTURES / path).read_text(encoding="utf-8"))
    return data["response"]["body"] if isinstance(data, dict) and "response" in data else data


def make_site(tmp_path: Path, connector: str, *, period: str, people: dict[str, str]) -> Path:
    """A site with a roster CSV (helpdesk id → employee) and `connector` (a [[connector]] table)."""
    (tmp_path / "roster.csv").write_text(
        "employee_id,name,role,hire_date,helpdesk\n"
        + "".join(f"{emp},Agent {emp},specialist,2000-01-01,{hid}\n" for hid, emp in people.items()), encoding="utf-8")
    site = tmp_path / "site.toml"
    site.write_text(f"""
[site]
name = "helpdesk test"
timezone = "Asia/Shanghai"

[period]
default = "{period}"

[scheme]
use = "recycling"

[[connector]]
name = "roster"
use = "csv"
kind = "employee"
path = "roster.csv"
ids = {{ helpdesk = "helpdesk" }}

[[connector]]
{connector}
""", encoding="utf-8")
    return site


def stored(site: Path, sql: str) -> list[tuple]:
    engine = sa.create_engine(f"sqlite:///{site.parent / 'kpi.sqlite'}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def metric(site: Path, run_id: int, employee: str, name: str):
    rows = stored(site, f"SELECT value FROM metric_values WHERE run_id = {run_id} AND employee_id = '{employee}' "
                        f"AND metric = '{name}'")
    return None if not rows or rows[0][0] is None else float(rows[0][0])


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def source(outcome, name: str) -> dict:
    return next(s for s in outcome.sources if s["connector"] == name)


def requests_to(httpserver, path: str):
    return [r for r, _ in httpserver.log if r.path == path]


# --- Zendesk --------------------------------------------------------------------------------

ZD_PAGE1 = {**fixture("built/zendesk/incremental_tickets_page1_envelope.json"),
            "tickets": fixture("zendesk/tickets_list_page1.json")["tickets"]}
ZD_PAGE2 = fixture("built/zendesk/incremental_tickets_page2.json")
ZD_PEOPLE = {"20014182": "E001", "20014187": "E002", "20014327": "E003"}
SEPT_2012 = epoch("2012-09-01T00:00:00+08:00")


def zendesk_site(tmp_path, httpserver, monkeypatch, extra: str = "") -> Path:
    monkeypatch.setenv("ZD_EMAIL", "agent@example.com")
    monkeypatch.setenv("ZD_TOKEN", "zd-T0KEN-123")
    return make_site(tmp_path, f"""name = "zendesk"
use = "zendesk"
url = "{httpserver.url_for('/')}"
email = "${{ZD_EMAIL}}"
token = "${{ZD_TOKEN}}"
channel_map = {{ voice = "phone" }}
{extra}""", period="2012-09", people=ZD_PEOPLE)


def serve_zendesk(httpserver, page2=None):
    def export(request):
        if request.args.get("cursor") == ZD_PAGE1["after_cursor"]:
            return page2(request) if page2 else Response(json.dumps(ZD_PAGE2), content_type="application/json")
        return Response(json.dumps(ZD_PAGE1), content_type="application/json")

    httpserver.expect_request("/api/v2/incremental/tickets/cursor.json").respond_with_handler(export)
    httpserver.expect_request("/api/v2/satisfaction_ratings").respond_with_json(
        fixture("zendesk/satisfaction_ratings_list.json"))
    httpserver.expect_request("/api/v2/users").respond_with_json(fixture("zendesk/users_list_page1.json"))


def test_zendesk_incremental_export_to_the_end_of_stream_and_ratings(tmp_path, httpserver, monkeypatch, waits):
    serve_zendesk(httpserver)
    site = zendesk_site(tmp_path, httpserver, monkeypatch)
    outcome = run(load_config(site))

    first, second = requests_to(httpserver, "/api/v2/incremental/tickets/cursor.json")
    assert first.args.to_dict() == {"start_time": str(SEPT_2012 - 7 * 86400), "include": "metric_sets"}
    assert second.args.to_dict() == {"cursor": ZD_PAGE1["after_cursor"], "include": "metric_sets"}
    (ratings,) = requests_to(httpserver, "/api/v2/satisfaction_ratings")
    assert ratings.args.to_dict() == {"start_time": str(SEPT_2012 - 7 * 86400),
                                      "end_time": str(epoch("2012-10-01T00:00:00+08:00"))}
    basic = base64.b64encode(b"agent@example.com/token:zd-T0KEN-123").decode()
    assert {r.headers["Authorization"] for r, _ in httpserver.log} == {f"Basic {basic}"}
    assert waits == []

    tickets = stored(site, "SELECT source_id, person_ref, employee_id, created_at, first_reply_at, resolved_at, "
                           "priority, channel, reopens FROM rec_ticket WHERE source = 'zendesk' ORDER BY at")
    assert tickets == [
        # The one assigned ticket of the recorded page (no metric set in the export for it).
        ("1", "20014182", "E001", epoch("2012-09-06T20:15:09Z"), None, None, "urgent", "web", None),
        ("9001", "20014187", "E002", epoch("2012-09-10T02:00:00Z"), epoch("2012-09-10T02:30:00Z"),
         epoch("2012-09-10T08:00:00Z"), "urgent", "web", 0),
        ("9002", "20014327", "E003", epoch("2012-09-11T03:00:00Z"), epoch("2012-09-11T04:30:00Z"), None,
         "urgent", "phone", 1),  # high counts as urgent; voice mapped to phone
        ("9003", "20014187", "E002", epoch("2012-09-12T04:00:00Z"), epoch("2012-09-12T04:15:00Z"),
         epoch("2012-09-13T04:00:00Z"), "normal", "email", 0),
        ("9004", "55555", None, epoch("2012-09-12T05:00:00Z"), None, None, "normal", "api", 0),
    ]
    report = source(outcome, "zendesk")
    assert report["rows_read"] == 105 + 65 and report["accepted"] == 5 + 65
    assert report["rejected"] == 100  # 99 unassigned recorded tickets and the deleted one
    assert "zendesk: ticket 9005: deleted in Zendesk" in report["rejections"]
    assert "zendesk: ticket 94: not assigned to an agent, so not attributed to anyone" in report["rejections"]
    assert report["unmapped_ids"] == {"55555": 1}

    # 64 ratings offered but not answered are unrated; the one good answer makes CSAT 100%.
    assert stored(site, "SELECT good, count(*) FROM rec_rating GROUP BY good ORDER BY good") == [(None, 64), (1, 1)]
    assert metric(site, outcome.run_id, "E001", "csat_rate") == 100
    assert metric(site, outcome.run_id, "E002", "csat_rate") is None  # no ratings: nothing to measure
    assert metric(site, outcome.run_id, "E003", "late_urgent_tickets") == 1  # still open, urgent
    assert metric(site, outcome.run_id, "E002", "late_urgent_tickets") == 0
    assert metric(site, outcome.run_id, "E002", "late_normal_tickets") == 0  # solved in exactly 24 h


def test_zendesk_agents_by_email(tmp_path, httpserver, monkeypatch, waits):
    serve_zendesk(httpserver)
    site = zendesk_site(tmp_path, httpserver, monkeypatch, 'person = "email"\nratings = false')
    site.parent.joinpath("roster.csv").write_text(
        "employee_id,name,role,helpdesk\nE001,A,specialist,sdavidovitz+qa@zendesk.com\n"
        "E002,B,specialist,zendesk-api-client-ruby-agent-sdavidovitz+qa@zendesk.com\n", encoding="utf-8")
    outcome = run(load_config(site))
    (users,) = requests_to(httpserver, "/api/v2/users")
    assert users.args.getlist("role[]") == ["agent", "admin"]
    assert not requests_to(httpserver, "/api/v2/satisfaction_ratings")
    assert stored(site, "SELECT source_id, person_ref, employee_id FROM rec_ticket ORDER BY at")[:3] == [
        ("1", "sdavidovitz+qa@zendesk.com", "E001"),
        ("9001", "zendesk-api-client-ruby-agent-sdavidovitz+qa@zendesk.com", "E002"),
        ("9002", "sdavidovitz+zdapi1@zendesk.com", None)]
    assert source(outcome, "zendesk")["unmapped_ids"] == {"55555": 1, "sdavidovitz+zdapi1@zendesk.com": 1}


def test_zendesk_429_waits_for_retry_after_capped(tmp_path, httpserver, monkeypatch, waits):
    limited = fixture("built/zendesk/rate_limited_429.json")
    answers = [Response(limited["body"], status=429, headers=limited["headers"]),
               Response(json.dumps(ZD_PAGE2), content_type="application/json")]
    serve_zendesk(httpserver, page2=lambda request: answers.pop(0))
    site = zendesk_site(tmp_path, httpserver, monkeypatch, "max_wait = 60")
    run(load_config(site))
    assert waits == [60]  # Retry-After: 93, capped at max_wait
    assert len(requests_to(httpserver, "/api/v2/incremental/tickets/cursor.json")) == 3
    assert stored(site, "SELECT count(*) FROM rec_ticket")[0][0] == 5


def test_zendesk_500_forever_fails_the_connector_and_keeps_earlier_results(tmp_path, httpserver, monkeypatch, waits):
    serve_zendesk(httpserver)
    site = zendesk_site(tmp_path, httpserver, monkeypatch, "retries = 2")
    first = run(load_config(site))
    before = stored(site, "SELECT * FROM rec_ticket ORDER BY id")
    ratings_before = stored(site, "SELECT * FROM rec_rating ORDER BY id")

    # The next run: page 1 now says ticket 1 changed hands, then page 2 fails on every attempt.
    httpserver.clear()
    changed = json.loads(json.dumps(ZD_PAGE1))
    changed["tickets"][0]["assignee_id"] = 20014187
    httpserver.expect_request("/api/v2/incremental/tickets/cursor.json").respond_with_handler(
        lambda r: Response("upstream failed", status=500) if "cursor" in r.args
        else Response(json.dumps(changed), content_type="application/json"))
    with pytest.raises(KpiError) as err:
        run(load_config(site))
    message = str(err.value)
    assert message.startswith(f"connector 'zendesk': GET http://127.0.0.1:{httpserver.port}/api/v2/incremental/"
                              f"tickets/cursor.json?include=metric_sets&cursor={ZD_PAGE1['after_cursor']} failed: "
                              "HTTP 500 (the server said: upstream failed)")
    assert "on all 3 attempts" in message and "try again later" in message
    for secret in ("zd-T0KEN-123", "agent@example.com", base64.b64encode(b"agent@example.com/token:zd-T0KEN-123").decode()):
        assert secret not in message
    assert waits == [1, 2]
    # Nothing from the failed pull was stored (not even page 1's change); the first run stays current.
    assert stored(site, "SELECT * FROM rec_ticket ORDER BY id") == before
    assert stored(site, "SELECT * FROM rec_rating ORDER BY id") == ratings_before
    runs = stored(site, "SELECT id, status, is_current FROM runs ORDER BY id")
    assert [(r[1], bool(r[2])) for r in runs] == [("succeeded", True), ("failed", False)] and runs[0][0] == first.run_id
    assert "zd-T0KEN-123" not in str(stored(site, "SELECT error FROM runs"))


def test_a_missing_secret_variable_names_the_option_and_the_variable(tmp_path, httpserver, monkeypatch):
    site = zendesk_site(tmp_path, httpserver, monkeypatch)
    monkeypatch.delenv("ZD_TOKEN")
    with pytest.raises(ConfigError) as err:
        run(load_config(site))
    assert "connector[1].token: environment variable ZD_TOKEN is not set" in str(err.value)
    assert not httpserver.log


def test_a_credential_written_in_the_config_is_refused(tmp_path, httpserver, monkeypatch):
    site = zendesk_site(tmp_path, httpserver, monkeypatch)
    site.write_text(site.read_text(encoding="utf-8").replace('"${ZD_TOKEN}"', '"zd-T0KEN-123"'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        run(load_config(site))
    assert "connector[1].token: a credential must not be written in the config" in str(err.value)
    assert "zd-T0KEN-123" not in str(err.value)


def test_built_pages_have_the_recorded_shapes():
    """Every key of a built ticket or metric set is one the recordings have."""
    recorded_ticket = fixture("zendesk/tickets_list_page1.json")["tickets"][0]
    recorded_metric = fixture("zendesk/ticket_metrics_list_page1.json")["ticket_metrics"][0]
    for t in ZD_PAGE2["tickets"]:
        assert set(t) == set(recorded_ticket)
    for m in ZD_PAGE2["metric_sets"]:
        assert set(m) == set(recorded_metric)
    assert {k for t in fixture("built/zammad/tickets_search_page2.json") for k in t} == \
        set(fixture("zammad/tickets_search_expand.json")[0])
    assert {k for t in fixture("built/freshdesk/tickets_page2.json") for k in t} <= set(fixture("freshdesk/ticket_1.json"))


# --- Freshdesk ------------------------------------------------------------------------------

def freshdesk_site(tmp_path, httpserver, monkeypatch, extra: str = "") -> Path:
    monkeypatch.setenv("FD_KEY", "fd-KEY-456")
    return make_site(tmp_path, f"""name = "freshdesk"
use = "freshdesk"
url = "{httpserver.url_for('/')}"
api_key = "${{FD_KEY}}"
{extra}""", period="2016-05", people={"6010396333": "E001", "432": "E002"})


def serve_freshdesk(httpserver, page2=None):
    def tickets(request):
        if request.args.get("page") == "2":
            return page2(request) if page2 else Response(
                json.dumps(fixture("built/freshdesk/tickets_page2.json")), content_type="application/json")
        query = request.args.copy()
        query["page"] = "2"
        nxt = httpserver.url_for("/api/v2/tickets") + "?" + "&".join(f"{k}={v}" for k, v in query.items(multi=True))
        return Response(json.dumps([fixture("freshdesk/ticket_1.json")]), content_type="application/json",
                        headers={"Link": f'<{nxt}>; rel="next"'})

    httpserver.expect_request("/api/v2/tickets").respond_with_handler(tickets)
    httpserver.expect_request("/api/v2/surveys/satisfaction_ratings").respond_with_json(
        fixture("built/freshdesk/satisfaction_ratings.json"))


def test_freshdesk_link_pages_stats_and_ratings(tmp_path, httpserver, monkeypatch, waits):
    serve_freshdesk(httpserver)
    site = freshdesk_site(tmp_path, httpserver, monkeypatch)
    outcome = run(load_config(site))

    since = "2016-04-23T16:00:00Z"  # 2016-05-01 in Shanghai, 7 days early
    page1, page2 = requests_to(httpserver, "/api/v2/tickets")
    assert page1.args.to_dict() == {"updated_since": since, "include": "stats", "order_by": "updated_at",
                                    "order_type": "asc", "per_page": "100", "page": "1"}
    assert page2.args.to_dict() == {**page1.args.to_dict(), "page": "2"}
    (ratings,) = requests_to(httpserver, "/api/v2/surveys/satisfaction_ratings")
    assert ratings.args.to_dict() == {"created_since": since, "per_page": "100", "page": "1"}
    key = base64.b64encode(b"fd-KEY-456:X").decode()
    assert {r.headers["Authorization"] for r, _ in httpserver.log} == {f"Basic {key}"}

    assert stored(site, "SELECT source_id, employee_id, created_at, first_reply_at, resolved_at, priority, channel, "
                        "reopens FROM rec_ticket ORDER BY source_id") == [
        ("1", "E001", epoch("2016-05-18T04:36:04Z"), epoch("2020-06-17T20:23:43Z"), epoch("2020-07-24T15:35:21Z"),
         "normal", "portal", 0),
        ("2", "E001", epoch("2016-05-20T01:00:00Z"), epoch("2016-05-20T01:20:00Z"), epoch("2016-05-20T05:00:00Z"),
         "urgent", "phone", 0),
        ("3", "E002", epoch("2016-05-21T02:00:00Z"), epoch("2016-05-21T02:05:00Z"), epoch("2016-05-22T02:00:00Z"),
         "normal", "chat", 1),  # closed, not resolved: closed_at; reopened once
    ]
    report = source(outcome, "freshdesk")
    assert report["rejections"] == ["freshdesk: ticket 4: not assigned to an agent, so not attributed to anyone"]
    # happy 103 → good, unhappy −103 → bad, neutral 100 → bad (as Freshdesk's CSAT counts it)
    assert stored(site, "SELECT source_id, employee_id, good FROM rec_rating ORDER BY source_id") == [
        ("7001", "E001", 1), ("7002", "E001", 0), ("7003", "E002", 0)]
    assert metric(site, outcome.run_id, "E001", "csat_rate") == 50
    assert metric(site, outcome.run_id, "E002", "csat_rate") == 0


def test_freshdesk_neutral_as_unrated_and_429_on_a_link_page(tmp_path, httpserver, monkeypatch, waits):
    limited = fixture("built/freshdesk/rate_limited_429.json")
    answers = [Response(json.dumps(limited["body"]), status=429, headers=limited["headers"]),
               Response(json.dumps(fixture("built/freshdesk/tickets_page2.json")), content_type="application/json")]
    serve_freshdesk(httpserver, page2=lambda request: answers.pop(0))
    site = freshdesk_site(tmp_path, httpserver, monkeypatch, 'neutral = "unrated"')
    outcome = run(load_config(site))
    assert waits == [30]
    assert stored(site, "SELECT count(*) FROM rec_ticket")[0][0] == 3
    assert stored(site, "SELECT source_id, good FROM rec_rating ORDER BY source_id") == [
        ("7001", 1), ("7002", 0), ("7003", None)]
    assert metric(site, outcome.run_id, "E002", "csat_rate") is None


# --- Zammad ---------------------------------------------------------------------------------

ZAMMAD_PAGES = {"1": fixture("zammad/tickets_search_expand.json"),
                "2": fixture("built/zammad/tickets_search_page2.json"),
                "3": fixture("built/zammad/tickets_search_page3_empty.json")}
ZAMMAD_USERS = {str(n): fixture(f"zammad/users_per_page2_page{n}_i{n + 4}.json") for n in range(1, 8)}


def zammad_site(tmp_path, httpserver, monkeypatch, pages=ZAMMAD_PAGES) -> Path:
    monkeypatch.setenv("ZAMMAD_TOKEN", "zm-T0KEN-789")

    def paged(bodies):
        return lambda request: Response(bodies[request.args["page"]] if isinstance(bodies[request.args["page"]], str)
                                        else json.dumps(bodies[request.args["page"]]), content_type="application/json")

    httpserver.expect_request("/api/v1/tickets/search").respond_with_handler(paged(pages))
    httpserver.expect_request("/api/v1/users").respond_with_handler(paged(ZAMMAD_USERS))
    return make_site(tmp_path, f"""name = "zammad"
use = "zammad"
url = "{httpserver.url_for('/')}"
token = "${{ZAMMAD_TOKEN}}"
person = "email"
page_size = 2
""", period="2025-05", people={"johndoe@example.com": "E001"})


def test_zammad_pages_until_an_empty_page_with_agents_by_email(tmp_path, httpserver, monkeypatch, waits):
    site = zammad_site(tmp_path, httpserver, monkeypatch)
    outcome = run(load_config(site))

    searches = requests_to(httpserver, "/api/v1/tickets/search")
    assert [r.args.to_dict() for r in searches] == [
        {"query": "updated_at:>=2025-04-23", "expand": "true", "sort_by": "updated_at", "order_by": "asc",
         "per_page": "2", "page": str(n)} for n in (1, 2, 3)]
    users = requests_to(httpserver, "/api/v1/users")
    assert [r.args.to_dict() for r in users] == [{"expand": "true", "per_page": "2", "page": str(n)} for n in range(1, 8)]
    assert {r.headers["Authorization"] for r, _ in httpserver.log} == {"Token token=zm-T0KEN-789"}

    assert stored(site, "SELECT source_id, person_ref, employee_id, created_at, first_reply_at, resolved_at, priority, "
                        "channel, reopens FROM rec_ticket ORDER BY source_id") == [
        ("5", "johndoe@example.com", "E001", epoch("2025-05-14T01:00:00Z"), epoch("2025-05-14T01:30:00Z"),
         epoch("2025-05-14T09:00:00Z"), "urgent", "email", None),
        ("6", "johndoe@example.com", "E001", epoch("2025-05-15T02:00:00Z"), epoch("2025-05-15T02:10:00Z"), None,
         "normal", "phone", None),
    ]
    # The recorded ticket belongs to Zammad's "nobody" (owner 1): reported, not attributed.
    assert source(outcome, "zammad")["rejections"] == [
        "zammad: ticket 1: not assigned to an agent, so not attributed to anyone"]
    assert metric(site, outcome.run_id, "E001", "late_urgent_tickets") == 0


def test_zammad_truncated_page_stores_nothing(tmp_path, httpserver, monkeypatch, waits):
    text = json.dumps(ZAMMAD_PAGES["2"])
    site = zammad_site(tmp_path, httpserver, monkeypatch, {**ZAMMAD_PAGES, "2": text[: len(text) // 2]})
    with pytest.raises(KpiError) as err:
        run(load_config(site))
    assert "connector 'zammad': GET http://127.0.0.1:" in str(err.value)
    assert "/api/v1/tickets/search?query=updated_at%3A%3E%3D2025-04-23" in str(err.value)
    assert "HTTP 200 but the body is not valid JSON" in str(err.value) and "the body was cut short" in str(err.value)
    assert stored(site, "SELECT count(*) FROM rec_ticket")[0][0] == 0
    assert stored(site, "SELECT status FROM runs") == [("failed",)]


def test_connectors_declare_documented_options():
    from kpi.plugins.connectors import freshdesk, rest_json, zammad, zendesk

    for module in (zendesk, freshdesk, zammad, rest_json):
        cls = next(v for k, v in vars(module).items() if k.endswith("Connector") and k != "ApiConnector")
        assert cls.roster is False and cls.replace is False
        for name, option in cls.options.items():
            assert f"`{name}`" in module.__doc__, f"{module.__name__}: option {name} is not documented"
            assert option.help or name in ("page_param", "first_page", "page_size", "offset_param"), name


def test_a_second_pull_reads_from_the_bookmark_and_a_failed_one_leaves_it(tmp_path, httpserver, monkeypatch, waits):
    serve_zendesk(httpserver)
    site = zendesk_site(tmp_path, httpserver, monkeypatch, "retries = 0")
    run(load_config(site))
    october = epoch("2012-10-01T00:00:00+08:00")
    state = "SELECT " + '"key", value' + " FROM connector_state WHERE connector = 'zendesk'"
    # The period is long over: everything up to its end has been read, and that is saved with the records.
    assert stored(site, state) == [("read_until:2012-09", str(october))]

    httpserver.clear_log()
    run(load_config(site))
    first = requests_to(httpserver, "/api/v2/incremental/tickets/cursor.json")[0]
    (ratings,) = requests_to(httpserver, "/api/v2/satisfaction_ratings")
    assert first.args["start_time"] == ratings.args["start_time"] == str(october - 7 * 86400)  # the bookmark less the overlap
    assert len(stored(site, "SELECT id FROM rec_ticket")) == 5  # the first pull's records are all still there

    # A pull that fails stores nothing and does not move the bookmark.
    (tmp_path / "kpi.sqlite").unlink()
    httpserver.clear()
    httpserver.expect_request("/api/v2/incremental/tickets/cursor.json").respond_with_data("down", status=500)
    with pytest.raises(KpiError):
        run(load_config(site))
    assert stored(site, state) == []

    # incremental = false reads the whole window every time.
    httpserver.clear()
    serve_zendesk(httpserver)
    site = zendesk_site(tmp_path, httpserver, monkeypatch, "incremental = false")
    run(load_config(site))
    httpserver.clear_log()
    run(load_config(site))
    first = requests_to(httpserver, "/api/v2/incremental/tickets/cursor.json")[0]
    assert first.args["start_time"] == str(SEPT_2012 - 7 * 86400)


def test_a_ticket_deleted_in_zendesk_after_a_pull_stops_counting(tmp_path, httpserver, monkeypatch, waits):
    """Ticket 9005 is solved when first pulled, then deleted in Zendesk; the next incremental pull
    (which reads only what changed) removes its stored record, so it no longer counts for E002."""
    live = json.loads(json.dumps(ZD_PAGE2))
    t9005 = next(t for t in live["tickets"] if t["id"] == 9005)
    t9005["status"] = "solved"
    serve_zendesk(httpserver, page2=lambda request: Response(json.dumps(live), content_type="application/json"))
    site = zendesk_site(tmp_path, httpserver, monkeypatch, "retries = 0")
    first = run(load_config(site))
    tickets = "SELECT source_id, employee_id FROM rec_ticket ORDER BY source_id"
    assert ("9005", "E002") in stored(site, tickets)
    late = metric(site, first.run_id, "E002", "late_normal_tickets")  # 9005 is open at the period's end: late
    evidence = "SELECT evidence FROM metric_values WHERE run_id = {} AND employee_id = 'E002' AND metric = 'late_normal_tickets'"
    assert "9005" in json.loads(stored(site, evidence.format(first.run_id))[0][0])["records"]

    httpserver.clear()
    serve_zendesk(httpserver)  # the recorded page: 9005 is "deleted" now
    second = run(load_config(site))
    assert ("9005", "E002") not in stored(site, tickets)
    report = source(second, "zendesk")
    assert report["removed"] == 1
    assert "zendesk: ticket 9005: deleted in Zendesk" in report["rejections"]
    assert metric(site, second.run_id, "E002", "late_normal_tickets") == late - 1
    assert "9005" not in json.loads(stored(site, evidence.format(second.run_id))[0][0])["records"]
