"""The one HTTP client every API connector uses: JSON over HTTP(S) with timeouts, retries and rate
limits, and errors a site can act on.

    client = client_from_options("tickets", "https://acme.zendesk.com", options,
                                 headers={"Authorization": "Token token=" + token.reveal()})
    data, response = client.get_json("/api/v2/users.json", {"page": 2})

- ``get(url, params)`` returns a 2xx ``requests.Response``; ``get_json(url, params)`` also decodes
  the body, and ``post_json(url, body, params)`` POSTs a JSON body (for APIs that take their queries
  that way; it is retried like a GET, so use it only for requests that read). `url` is a path under
  the base URL, "" for the base URL itself, or an absolute URL on the same host (a next-page link).
- ``request(method, url, params, json=…, data=…, headers=…, retry=…)`` is any other request (the
  exporters' writes): a JSON body or raw bytes (a signed body is sent exactly as signed), headers of
  its own, and ``retry=False`` for a write that is not safe to repeat (it is tried once; the caller
  finds out what happened). ``request_json`` also decodes the answer. A failure of a request that
  may succeed later (timeout, dropped connection, 5xx, 429) has ``transient`` set on the error; a
  refusal (4xx) has its ``status``.
- Connection errors, timeouts, bodies cut off mid-transfer and 5xx answers are retried after
  ``backoff × 2^n`` seconds; a 429 (or a 503 with Retry-After) waits as long as its Retry-After
  asks (seconds or an HTTP date). No wait is longer than ``max_wait``. After ``retries`` retries the
  request fails.
- Every failure is an :class:`InputError` naming the connector, the URL (without credentials or
  secret query values), the status and what to do. The values of `headers` and `auth`, and any
  other `secrets` given, are credentials: they never appear in an error or a log line.
- Waits go through ``sleep`` (by default this module's :data:`SLEEP`, which tests replace).

Connectors declare :data:`HTTP_OPTIONS` among their options and build the client with
:func:`client_from_options`.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import re
import time
from typing import Any, Callable, Iterable
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from kpi.core import __version__
from kpi.core.errors import InputError
from kpi.core.options import Option

log = logging.getLogger(__name__)

SLEEP: Callable[[float], None] = time.sleep  # how the client waits; tests replace it to record waits

HTTP_OPTIONS = {
    "timeout": Option("number", default=30, help="seconds to wait for the server to connect or to send data"),
    "retries": Option("int", default=4, help="retries of a request after a timeout, a dropped connection, "
                                             "a 5xx answer or a 429"),
    "max_wait": Option("number", default=120, help="the longest wait before a retry, in seconds, whatever the "
                                                  "server's Retry-After asks"),
}

# Query values that are credentials (DingTalk's access_token, a signature …), in a URL or a request line.
_SECRET_QUERY = re.compile(r"([?&][^=&#\s]*(?:token|key|secret|passw|sign|auth|credential|session)[^=&#\s]*=)"
                           r"[^&#\s\"]*", re.I)
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")]*")
SNIPPET = 200  # characters of a body quoted in an error


def safe_url(url: str) -> str:
    """`url` without user:password@ and with secret-looking query values replaced by ***."""
    parts = urlsplit(url)
    url = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], fragment=""))
    return _SECRET_QUERY.sub(r"\1***", url)


class _RedactQuery(logging.Filter):
    """urllib3 logs request lines (query included) at DEBUG: keep query credentials out of them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactQuery())


def retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds a Retry-After header asks for: a number of seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class _Session(requests.Session):
    """requests drops Authorization on a redirect to another host, but not a custom header such as
    X-Api-Key: drop those too."""

    credential_headers: tuple[str, ...] = ()

    def rebuild_auth(self, prepared_request, response):
        if self.should_strip_auth(response.request.url, prepared_request.url):
            for name in self.credential_headers:
                prepared_request.headers.pop(name, None)
        super().rebuild_auth(prepared_request, response)


class HttpClient:
    """A requests.Session for one connector and one API host."""

    def __init__(self, connector: str, base_url: str, *, headers: dict[str, str] | None = None,
                 auth: tuple[str, str] | None = None, timeout: float = 30, retries: int = 4, backoff: float = 1.0,
                 max_wait: float = 120, sleep: Callable[[float], None] | None = None,
                 credentials_hint: str = "the connector's credentials", secrets: Iterable[str] = (),
                 kind: str = "connector"):
        self.connector = connector
        self.kind = kind  # "connector" or "exporter": how errors name the plugin
        self.base_url = base_url
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep
        self.credentials_hint = credentials_hint
        self.session = _Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": f"kpi/{__version__}"})
        self.session.headers.update(headers or {})
        self.session.credential_headers = tuple(headers or ())
        self.session.auth = auth
        secrets = list((headers or {}).values()) + list(auth or ()) + list(secrets)
        if auth:
            secrets.append(base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise InputError(f"{kind} {connector!r}: url {safe_url(base_url)!r} is not an http(s) address; "
                             "write it as https://host/…")

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc) -> None:
        self.session.close()

    def hide(self, secret: str) -> None:
        """Never show `secret` in an error or log line (a token this client was handed later)."""
        if secret:
            self._secrets = sorted({*self._secrets, secret}, key=len, reverse=True)

    def authorize(self, header: str, value: str) -> None:
        """Send `header: value` with every request from now on, as a credential (a token obtained
        after the client was made): never shown, dropped on a redirect to another host."""
        self.session.headers[header] = value
        self.session.credential_headers = (*self.session.credential_headers, header)
        self.hide(value)

    def scrub(self, text: str) -> str:
        """`text` with every credential this client sends replaced by ***."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def url(self, url: str, params: dict[str, Any] | None = None) -> str:
        """The absolute URL a request for `url` with `params` goes to."""
        if not url or urlsplit(url).scheme:
            full = url or self.base_url
        else:
            full = urljoin(self.base_url.rstrip("/") + "/", url.lstrip("/"))
        here, there = urlsplit(self.base_url), urlsplit(full)
        if (there.scheme, there.netloc) != (here.scheme, here.netloc):
            # A next-page link elsewhere must not receive our credentials.
            raise InputError(f"{self.kind} {self.connector!r}: the server sent a link to another host "
                             f"({safe_url(full)}); not following it with this connector's credentials. "
                             "Check the url option and the paging settings")
        prepared = requests.models.PreparedRequest()
        prepared.prepare_url(full, params)
        return prepared.url

    def _fail(self, shown: str, what: str, todo: str, transient: bool = False, status: int | None = None) -> InputError:
        """`shown` is the method and the safe URL. `transient`: the request may succeed later;
        `status`: the HTTP status of a refusal (4xx)."""
        error = InputError(self.scrub(f"{self.kind} {self.connector!r}: {shown} failed: {what}; {todo}"))
        error.transient, error.status = transient, status
        return error

    def get(self, url: str, params: dict[str, Any] | None = None) -> requests.Response:
        return self._send("GET", url, params)

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, requests.Response]:
        """GET and decode a JSON body (see :meth:`_decode`)."""
        return self._decode(self.get(url, params))

    def post_json(self, url: str, body: Any, params: dict[str, Any] | None = None) -> tuple[Any, requests.Response]:
        """POST `body` as JSON and decode the JSON answer."""
        return self._decode(self._send("POST", url, params, body))

    def request(self, method: str, url: str, params: dict[str, Any] | None = None, *, json: Any = None,
                data: bytes | None = None, headers: dict[str, str] | None = None,
                retry: bool = True) -> requests.Response:
        """A request with a JSON body (`json`) or raw bytes (`data`, sent as they are) and headers of
        its own. `retry=False`: tried once, for a write that must not be repeated blindly."""
        return self._send(method.upper(), url, params, json, data=data, headers=headers, retry=retry)

    def request_json(self, method: str, url: str, params: dict[str, Any] | None = None, **kwargs) -> tuple[Any, requests.Response]:
        """:meth:`request`, and the decoded JSON answer."""
        return self._decode(self.request(method, url, params, **kwargs))

    def _send(self, method: str, url: str, params: dict[str, Any] | None, body: Any = None, *,
              data: bytes | None = None, headers: dict[str, str] | None = None, retry: bool = True) -> requests.Response:
        full = self.url(url, params)
        shown = f"{method} {safe_url(full)}"
        attempts = self.retries + 1 if retry else 1
        for attempt in range(1, attempts + 1):
            wait = min(self.backoff * 2 ** (attempt - 1), self.max_wait)
            try:
                if method == "GET" and headers is None:
                    response = self.session.get(full, timeout=self.timeout)
                elif data is not None:
                    response = self.session.request(method, full, data=data, headers=headers, timeout=self.timeout)
                else:
                    response = self.session.request(method, full, json=body, headers=headers, timeout=self.timeout)
            except requests.Timeout:
                reason = f"no answer within {self.timeout:g} s"
                todo = "the server is slow or unreachable: try again later, or raise the timeout option"
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as exc:
                cause = _ERRNO.search(str(exc))
                reason = f"the connection failed ({cause.group(0).strip() if cause else type(exc).__name__})"
                todo = "check the url option and the network (proxy, firewall), or try again later"
            except requests.RequestException as exc:
                raise self._fail(shown, type(exc).__name__, "check the url option") from None
            else:
                status = response.status_code
                if status < 300:
                    log.debug("connector %s: %s: HTTP %s", self.connector, shown, status)
                    return response
                if status != 429 and status < 500:
                    raise self._fail(shown, f"HTTP {status}{_said(response)}", _todo(status, self.credentials_hint, self.kind),
                                     status=status)
                asked = retry_after(response.headers.get("Retry-After"))
                if asked is not None:
                    wait = min(asked, self.max_wait)
                reason = f"HTTP {status}" + (" (rate limited)" if status == 429 else "") + _said(response)
                todo = ("the API's rate limit was still exceeded: run again later, or raise retries or max_wait"
                        if status == 429 else "the server is failing: try again later, or raise the retries option")
            if attempt == attempts:
                tries = (f"on all {attempts} attempts" if attempts > 1 else "(no retries configured)" if retry
                         else "(not retried: repeating it is not safe)")
                raise self._fail(shown, f"{reason} {tries}", todo, transient=True)
            log.warning(self.scrub(f"connector {self.connector}: {shown}: {reason}; retrying in {wait:g} s "
                                   f"(attempt {attempt + 1} of {attempts})"))
            (self._sleep or SLEEP)(wait)
        raise AssertionError("unreachable")

    def _decode(self, response: requests.Response) -> tuple[Any, requests.Response]:
        """The JSON body. One that is not JSON (cut short, or an HTML page) is an error that says
        where it breaks off."""
        try:
            return response.json(), response
        except ValueError as exc:
            size = len(response.content)
            pos, msg = getattr(exc, "pos", None), getattr(exc, "msg", str(exc))
            cut = msg.startswith("Unterminated string") or (pos is not None and pos >= len(response.text.rstrip()))
            where = (f"it ends at byte {size} in the middle of a value: the body was cut short" if cut
                     else f"{msg} at byte {pos}")
            raise self._fail(f"{response.request.method} {safe_url(response.url)}",
                             f"HTTP {response.status_code} but the body is not valid JSON "
                             f"({where}; it begins {response.text[:80]!r})",
                             "run again; if it repeats, check that url points at the API (not a web page) "
                             "and that no proxy cuts responses short") from None


def _said(response: requests.Response) -> str:
    text = " ".join(response.text.split())[:SNIPPET]
    return f" (the server said: {text})" if text else ""


def _todo(status: int, credentials: str, kind: str = "connector") -> str:
    if status == 401:
        return f"the server refused the credentials: check {credentials} and the environment variables they name"
    if status == 403:
        verb = "read" if kind == "connector" else "write"
        return f"the account behind {credentials} may not {verb} this: give it the permission, or use another account"
    if status == 404:
        where = "the helpdesk's base address" if kind == "connector" else "the system's base address"
        return f"the server has no such page: check the url option ({where})"
    return f"the server refused the request: check the {kind}'s options"


def client_from_options(connector: str, base_url: str, options: dict[str, Any], *,
                        headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None,
                        credentials_hint: str = "the connector's credentials", secrets: Iterable[str] = (),
                        kind: str = "connector") -> HttpClient:
    """A client configured by the connector's (or exporter's) :data:`HTTP_OPTIONS` values."""
    return HttpClient(connector, base_url, headers=headers, auth=auth, timeout=options["timeout"],
                      retries=options["retries"], max_wait=options["max_wait"], credentials_hint=credentials_hint,
                      secrets=secrets, kind=kind)

