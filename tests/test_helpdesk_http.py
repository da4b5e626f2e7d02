"""The shared HTTP client of the API connectors, against a real HTTP server on 127.0.0.1: retries
with backoff, 429 with Retry-After (capped), timeouts, cut-off JSON, and credentials kept out of
every error and log line."""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
from email.utils import formatdate
from pathlib import Path

import pytest
from werkzeug import Response

from kpi.core.errors import InputError
from kpi.plugins.connectors.http import HttpClient, retry_after, safe_url

# Fixtures shared with the connectors' tests: httpserver on 127.0.0.1, no proxy for it.
from test_helpdesk_connectors import httpserver, no_proxy  # noqa: F401

BUILT = Path(__file__).parent / "fixtures" / "helpdesk" / "built"
TOKEN = "s3cr3t-T0ken-value"


def client(httpserver, waits: list, **kw) -> HttpClient:
    kw.setdefault("headers", {"Authorization": f"Token token={TOKEN}"})
    return HttpClient("tickets", httpserver.url_for("/"), sleep=waits.append, credentials_hint="the token option", **kw)


def built_response(path: str) -> Response:
    answer = json.loads((BUILT / path).read_text(encoding="utf-8"))
    body = answer["body"] if isinstance(answer["body"], str) else json.dumps(answer["body"])
    return Response(body, status=answer["status"], headers=answer["headers"])


def test_429_waits_for_retry_after_capped_by_max_wait(httpserver):
    httpserver.expect_ordered_request("/api/v2/x").respond_with_response(built_response("zendesk/rate_limited_429.json"))
    httpserver.expect_ordered_request("/api/v2/x").respond_with_response(built_response("zendesk/rate_limited_429.json"))
    httpserver.expect_ordered_request("/api/v2/x").respond_with_json({"ok": True})
    waits = []
    data, _ = client(httpserver, waits, max_wait=60).get_json("/api/v2/x")
    assert data == {"ok": True}
    assert waits == [60, 60]  # the server asked for 93 s twice; the cap is 60
    httpserver.check_assertions()


def test_429_retry_after_as_an_http_date(httpserver):
    httpserver.expect_ordered_request("/x").respond_with_data(
        "slow down", status=429, headers={"Retry-After": formatdate(time.time() + 30, usegmt=True)})
    httpserver.expect_ordered_request("/x").respond_with_json([])
    waits = []
    client(httpserver, waits).get_json("/x")
    assert len(waits) == 1 and 27 <= waits[0] <= 30


def test_retry_after_values():
    assert retry_after("120") == 120
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412470.0) == 10
    assert retry_after("soon") is None and retry_after(None) is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412490.0) == 0  # already past


def test_500_then_success_is_retried_with_backoff(httpserver):
    httpserver.expect_ordered_request("/x").respond_with_data("oops", status=502)
    httpserver.expect_ordered_request("/x").respond_with_data("oops", status=500)
    httpserver.expect_ordered_request("/x").respond_with_json({"n": 1})
    waits = []
    data, _ = client(httpserver, waits).get_json("/x", {"page": 3})
    assert data == {"n": 1} and waits == [1, 2]
    assert [r.args["page"] for r, _ in httpserver.log] == ["3", "3", "3"]


def test_500_forever_names_connector_url_status_and_never_the_credentials(httpserver, caplog):
    # The server echoes the credentials back, as some error pages do.
    httpserver.expect_request("/api/v2/tickets").respond_with_handler(
        lambda r: Response(f"internal error for {r.headers.get('Authorization')}", status=500))
    waits = []
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InputError) as err:
        client(httpserver, waits, retries=3, max_wait=3).get("/api/v2/tickets", {"page": 2, "access_token": TOKEN})
    message = str(err.value)
    assert message.startswith(f"connector 'tickets': GET http://127.0.0.1:{httpserver.port}/api/v2/tickets?page=2"
                              "&access_token=*** failed: HTTP 500 (the server said: internal error for ***)")
    assert "on all 4 attempts" in message and "try again later" in message
    assert waits == [1, 2, 3]  # exponential, capped by max_wait
    assert len(httpserver.log) == 4
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")  # not the test server's log
    assert TOKEN not in message and TOKEN not in ours and "access_token=***" in ours
    assert "retrying in 1 s (attempt 2 of 4)" in caplog.text


def test_post_json_sends_the_body_and_is_retried_like_a_get(httpserver):
    httpserver.expect_ordered_request("/topapi/list", method="POST").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/topapi/list", method="POST", json={"offset": 0, "size": 50}).respond_with_json(
        {"errcode": 0, "result": []})
    waits = []
    data, _ = client(httpserver, waits).post_json("/topapi/list", {"offset": 0, "size": 50}, {"access_token": "t0k"})
    assert data == {"errcode": 0, "result": []} and waits == [1]
    assert [r.args["access_token"] for r, _ in httpserver.log] == ["t0k", "t0k"]
    httpserver.check_assertions()


def test_other_secrets_are_scrubbed_too(httpserver):
    httpserver.expect_request("/x", method="POST").respond_with_data("no such corp ding-corp-42", status=400)
    with pytest.raises(InputError) as err:
        client(httpserver, [], secrets=["ding-corp-42"]).post_json("/x", {"corpid": "ding-corp-42"})
    assert str(err.value).startswith(f"connector 'tickets': POST http://127.0.0.1:{httpserver.port}/x failed: "
                                     "HTTP 400 (the server said: no such corp ***)")


def test_basic_auth_values_never_appear(httpserver, caplog):
    user, password = "agent@example.com/token", TOKEN
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    httpserver.expect_request("/x").respond_with_handler(
        lambda r: Response(f"bad auth {r.headers.get('Authorization')}", status=401))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InputError) as err:
        HttpClient("zendesk", httpserver.url_for("/"), auth=(user, password), sleep=[].append,
                   credentials_hint="the email and token options").get("/x")
    message = str(err.value)
    assert "HTTP 401" in message and "check the email and token options" in message
    assert len(httpserver.log) == 1  # a refusal is not retried
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    for secret in (encoded, password, user):
        assert secret not in message and secret not in ours
    assert httpserver.log[0][0].headers["Authorization"] == f"Basic {encoded}"


def test_timeout_on_every_attempt(httpserver):
    def slow(request):
        time.sleep(0.6)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    waits = []
    with pytest.raises(InputError) as err:
        client(httpserver, waits, timeout=0.2, retries=1).get_json("/slow")
    assert "GET http://127.0.0.1" in str(err.value) and "/slow failed: no answer within 0.2 s on all 2 attempts" in str(err.value)
    assert "raise the timeout option" in str(err.value) and waits == [1]


def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    waits = []
    with pytest.raises(InputError) as err:
        HttpClient("tickets", f"http://127.0.0.1:{port}", retries=1, sleep=waits.append).get("/x")
    assert f"GET http://127.0.0.1:{port}/x failed: the connection failed" in str(err.value)
    assert "Connection refused" in str(err.value) and waits == [1]


def test_truncated_json_is_a_clear_error(httpserver):
    httpserver.expect_request("/x").respond_with_data('{"tickets": [{"id": 1, "subject": "Pick', content_type="application/json")
    with pytest.raises(InputError) as err:
        client(httpserver, []).get_json("/x")
    message = str(err.value)
    assert "connector 'tickets': GET" in message and "HTTP 200 but the body is not valid JSON" in message
    assert "it ends at byte 39 in the middle of a value: the body was cut short" in message


def test_a_web_page_instead_of_json(httpserver):
    httpserver.expect_request("/x").respond_with_data("<html><body>Please log in</body></html>", content_type="text/html")
    with pytest.raises(InputError) as err:
        client(httpserver, []).get_json("/x")
    assert "not valid JSON (Expecting value at byte 0; it begins '<html><body>Please log in" in str(err.value)
    assert "check that url points at the API" in str(err.value)


def test_a_link_to_another_host_is_not_followed_with_credentials(httpserver):
    with pytest.raises(InputError) as err:
        client(httpserver, []).get("https://elsewhere.example.com/api?page=2")
    assert "link to another host (https://elsewhere.example.com/api?page=2)" in str(err.value)
    assert not httpserver.log


def test_a_redirect_to_another_host_drops_the_credential_headers(httpserver):
    # 127.0.0.1 and localhost are different hosts to the client, though the same server here.
    elsewhere = f"http://localhost:{httpserver.port}/landing"
    httpserver.expect_request("/moved").respond_with_data("", status=302, headers={"Location": elsewhere})
    httpserver.expect_request("/landing").respond_with_json({"ok": True})
    data, _ = client(httpserver, [], headers={"X-Api-Key": TOKEN}).get_json("/moved")
    assert data == {"ok": True}
    first, second = (r for r, _ in httpserver.log)
    assert first.headers["X-Api-Key"] == TOKEN and "X-Api-Key" not in second.headers


def test_safe_url_drops_credentials():
    assert safe_url("https://bob:pw@h.example.com:8443/a/b?page=2&api_key=abc&sign=xyz&q=1") == \
        "https://h.example.com:8443/a/b?page=2&api_key=***&sign=***&q=1"
