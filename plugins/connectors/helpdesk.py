"""What the helpdesk API connectors (zendesk, freshdesk, zammad, rest_json) share: their common
options, the time window they read, and turning an API's items into the sink's records.

Common options:

| option | meaning |
|---|---|
| `url` | the API's base address, e.g. https://acme.zendesk.com |
| `overlap_days` | days before the period that are read again (default 7), so late changes are picked up: a rating given days after the survey was sent, a ticket solved after the period ended |
| `incremental` | true (default): a pull reads from where the last successful pull of the same period stopped, less `overlap_days`, so a re-run fetches only what changed (the bookmark is saved with the records, in one transaction); false: the whole window every time |
| `identity` | the roster's system for the ids in the person field (default: the kind's, `helpdesk`) |
| `timeout`, `retries`, `max_wait` | see :mod:`kpi.plugins.connectors.http` |

The vendor connectors also take `person` (`id`: the roster holds the helpdesk's numeric agent ids;
`email`: it holds the agents' emails, looked up from the helpdesk's user list), `priority_map`
(the helpdesk's priority → `urgent`; any priority not listed is `normal`) and `channel_map`.

Records are upserted by source id (an API is read incrementally, not as a whole), so a ticket read
again replaces its earlier copy. An item without an agent is not attributed to anyone: it is
listed in the run report as rejected, with the reason.
"""

from __future__ import annotations

import time

from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from kpi.core.errors import InputError
from kpi.core.models import Period
from kpi.core.options import Option
from kpi.core.values import ValueProblem, parse_value

from .http import HTTP_OPTIONS, HttpClient, safe_url
from .paging import Paging, pages, path_get

DAY = 86_400

API_OPTIONS = {
    "url": Option("str", required=True, help="the API's base address, e.g. https://acme.zendesk.com"),
    "overlap_days": Option("int", default=7, help="days before the period read again, for late changes"),
    "incremental": Option("bool", default=True,
                          help="read from where the last successful pull of this period stopped (less the "
                               "overlap), not from the period's start; false reads the whole window each time"),
    "identity": Option("str", help="the roster's system for the agent ids (default: helpdesk)"),
    **HTTP_OPTIONS,
}
VENDOR_OPTIONS = {
    **API_OPTIONS,
    "person": Option("str", default="id", choices=("id", "email"),
                     help="what the roster's helpdesk ids are: the agent's id in the helpdesk, or their email"),
    "priority_map": Option("table", default={"urgent": "urgent", "high": "urgent"},
                           help="the helpdesk's priority names that count as urgent; others are normal"),
    "channel_map": Option("table", default={}, help="the helpdesk's channel names → yours, e.g. { voice = \"phone\" }"),
}


class ApiConnector:
    """Base of the API connectors: the name, options and timezone every one of them keeps."""

    roster = False
    replace = False  # an incremental API: records are upserted by source id, never replaced wholesale

    def __init__(self, name: str, options: dict[str, Any], site):
        self.name = name
        self.opts = options
        self.tz = site.timezone

    def pull(self, period: Period, sink) -> None:
        """Read the period's window — from the bookmark of the last successful pull when there is one
        — and move the bookmark. The bookmark is saved in the pull's transaction: it moves only when
        the records it stands for are stored."""
        started = int(time.time())
        since, until = window(period, self.opts)
        key = f"read_until:{period.label}"
        mark = sink.state().get(key) if self.opts["incremental"] else None
        if mark is not None:
            since = max(since, int(mark) - self.opts["overlap_days"] * DAY)
        self.read(period, sink, since, until)
        sink.fingerprint(f"{safe_url(self.opts['url'])} from {since} to {min(started, until)}")
        sink.save_state({key: str(min(started, until))})

    def read(self, period: Period, sink, since: int, until: int) -> None:
        raise NotImplementedError


def window(period: Period, options: dict[str, Any]) -> tuple[int, int]:
    """[since, until) in epoch seconds: the period, starting `overlap_days` early."""
    lo, hi = period.window()
    return lo - options["overlap_days"] * DAY, hi


def iso_utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(value: Any, tz: str, what: str, required: bool = False) -> int | None:
    """Epoch seconds from an API's ISO time; None stays None unless `required`."""
    try:
        seconds = parse_value("datetime", value, tz)
    except ValueProblem as exc:
        raise InputError(f"{what}: {exc}") from None
    if seconds is None and required:
        raise InputError(f"{what}: missing; the API sent no value")
    return seconds


def priority(value: Any, mapping: dict[str, str]) -> str:
    """urgent or normal, as the site's priority_map says (names compared without case)."""
    name = "" if value is None else str(value).strip().lower()
    return "urgent" if {k.lower(): v for k, v in mapping.items()}.get(name) == "urgent" else "normal"


def channel(value: Any, mapping: dict[str, str]) -> str | None:
    return None if value in (None, "") else mapping.get(str(value), str(value))


def agent_ids(client: HttpClient, url: str, params: dict[str, Any], paging: Paging,
              email_path: str = "email") -> dict[str, str]:
    """The helpdesk's agent ids → their emails, from its user list (for ``person = "email"``)."""
    return {str(user["id"]): str(path_get(user, email_path)) for page in pages(client, url, params, paging)
            for user in page.items if path_get(user, email_path)}


def person(agent: Any, emails: dict[str, str] | None) -> str | None:
    """The person field for an agent id: the id itself, or their email where the site asked for emails."""
    if agent in (None, ""):
        return None
    return emails.get(str(agent), str(agent)) if emails is not None else str(agent)


class Skip(Exception):
    """Raised by a `to_record` function for an item that is not a record; the run report lists it.
    `gone`: the item was deleted in the source, so a record of it stored by an earlier pull is
    removed too (it must stop counting)."""

    def __init__(self, source_id: Any, reason: str, *, gone: bool = False):
        super().__init__(reason)
        self.source_id = source_id
        self.gone = gone


def store(sink, kind: str, items: Iterable[Any], to_record: Callable[[Any], dict[str, Any]],
          identity: str | None = None) -> None:
    """Hand the sink the records `to_record` makes from `items`. An item it skips, and a record
    without a person (nobody to attribute it to), are listed in the run report as rejected; one
    deleted in the source is also removed from the store."""
    gone: list[str] = []

    def records():
        for item in items:
            sink.report.rows_read += 1
            try:
                row = to_record(item)
            except Skip as skip:
                sink.reject(f"{sink.connector}: {kind} {skip.source_id}", str(skip))
                if skip.gone:
                    gone.append(str(skip.source_id))
                continue
            if row["person"] in (None, ""):
                sink.reject(f"{sink.connector}: {kind} {row['source_id']}",
                            "not assigned to an agent, so not attributed to anyone")
                continue
            yield row

    sink.records(kind, records(), identity=identity)
    sink.forget(kind, gone)
