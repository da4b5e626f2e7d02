"""Any REST API that answers JSON, configured in site.toml alone: an in-house system, or a helpdesk
kpi has no connector for.

    [[connector]]
    name = "tickets"
    use = "rest_json"
    kind = "ticket"
    url = "https://crm.example.cn/api/v1/work-orders"
    token = "${CRM_TOKEN}"
    auth_prefix = "Bearer "
    params = { from = "{start}", to = "{end}" }
    time_format = "epoch"
    paging = "page"
    items = "data.list"
    fields = { source_id = "id", person = "handler.id", created_at = "createTime", resolved_at = "finishTime",
               priority = "level", channel = "source", reopens = "reopenCount", first_reply_at = "firstReplyTime" }
    value_map = { priority = { "紧急" = "urgent", "一般" = "normal" } }
    formats = { created_at = "epoch_ms", resolved_at = "%Y年%m月%d日 %H:%M" }

| option | meaning |
|---|---|
| `url` | the endpoint that lists the items |
| `kind` | the record kind the items are: `ticket`, `rating`, `complaint`, `attendance_day` … |
| `items` | the JSON path of the list in a page, e.g. `data.list` (default: the body is the list) |
| `fields` | record field = JSON path in an item, e.g. `person = "agent.id"`; needs `source_id`, `person` and the kind's required fields |
| `value_map` | `field = { "API value" = "value" }` to translate codes (as the csv connector's) |
| `formats` | `field = "epoch"`, `"epoch_ms"` or a strptime pattern such as `"%d/%m/%Y %H:%M"` for times the API does not write in ISO; naive times are in the site's timezone |
| `params` | query parameters; `{start}` and `{end}` become the window read: the period, starting `overlap_days` early, `{end}` being the first moment after it |
| `time_format` | how `{start}`/`{end}` are written: `iso` (2026-10-01T00:00:00+08:00, the default), `epoch`, `epoch_ms`, `date` (2026-10-01) or a strftime pattern |
| `token` | a credential as a `"${ENV}"` reference, sent in the `auth_header` header (default `Authorization`) after `auth_prefix` (e.g. `"Bearer "`) |
| `paging` | `none` (default), `page`, `offset`, `next_url`, `link` or `cursor`: see :mod:`kpi.plugins.connectors.paging` |
| `page_param`, `first_page`, `size_param`, `page_size`, `offset_param` | page and offset styles' parameters (defaults page, 1, per_page, 100, offset) |
| `next_url` | next_url style: the JSON path of the next page's URL |
| `cursor`, `cursor_param` | cursor style: the JSON path of the next cursor, and the parameter it is sent back in |
| `done`, `more` | JSON paths that end the paging when true (`done`) or false (`more`), e.g. `more = "data.hasMore"` |
| `on_error` | `stop` (default: list every bad item and store nothing) or `skip` (report them) |
| `overlap_days`, `incremental`, `identity`, `timeout`, `retries`, `max_wait` | see :mod:`kpi.plugins.connectors.helpdesk` |

Records are upserted by source id: an item read again replaces its earlier copy.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from kpi.core import hookimpl
from kpi.core.errors import InputError
from kpi.core.options import Option, did_you_mean
from kpi.core.records import Field
from kpi.core.values import ValueProblem, parse_value

from .helpdesk import API_OPTIONS, ApiConnector, Skip, store
from .http import client_from_options
from .paging import STYLES, Paging, pages, path_get

MAX_LISTED = 50  # bad items listed in one error
ID_FIELDS = (Field("source_id", "text", True), Field("person", "text"))  # no person: reported as unassigned


class RestJsonConnector(ApiConnector):
    options = {
        **API_OPTIONS,
        "url": Option("str", required=True, help="the endpoint that lists the items"),
        "kind": Option("str", required=True, help="the record kind the items are, e.g. ticket"),
        "items": Option("str", default="", help="JSON path of the list in a page, e.g. data.list"),
        "fields": Option("table", required=True, help="record field = JSON path in an item"),
        "value_map": Option("table", default={}, help="field = { \"API value\" = \"value\" }"),
        "formats": Option("table", default={}, help="field = \"epoch\", \"epoch_ms\" or a strptime pattern"),
        "params": Option("table", default={}, help="query parameters; {start} and {end} are the window"),
        "time_format": Option("str", default="iso", help="iso, epoch, epoch_ms, date or a strftime pattern"),
        "token": Option("str", secret=True, help="a credential sent in auth_header"),
        "auth_header": Option("str", default="Authorization", help="the header the token goes in"),
        "auth_prefix": Option("str", default="", help="text before the token, e.g. \"Bearer \""),
        "paging": Option("str", default="none", choices=STYLES, help="how pages follow each other"),
        "page_param": Option("str", default="page"),
        "first_page": Option("int", default=1),
        "size_param": Option("str", default="per_page", help="the page size parameter (\"\" sends none)"),
        "page_size": Option("int", default=100),
        "offset_param": Option("str", default="offset"),
        "next_url": Option("str", default="next", help="next_url paging: JSON path of the next page's URL"),
        "cursor": Option("str", default="next_cursor", help="cursor paging: JSON path of the next cursor"),
        "cursor_param": Option("str", default="cursor", help="cursor paging: the parameter the cursor goes in"),
        "done": Option("str", default="", help="JSON path that is true on the last page"),
        "more": Option("str", default="", help="JSON path that is false on the last page"),
        "on_error": Option("str", default="stop", choices=("stop", "skip"),
                           help="stop at bad items (listing them all), or skip them with a report"),
    }

    def __init__(self, name: str, options: dict[str, Any], site):
        super().__init__(name, options, site)
        o = options
        self.paging = Paging(o["paging"], items=o["items"], page_param=o["page_param"], first_page=o["first_page"],
                             size_param=o["size_param"], size=o["page_size"], offset_param=o["offset_param"],
                             next_url=o["next_url"], cursor=o["cursor"], cursor_param=o["cursor_param"],
                             done=o["done"], more=o["more"])
        self.bad: list[str] = []

    def read(self, period, sink, since: int, until: int) -> None:
        fields = self._fields(sink.store.kinds)
        params = {k: self._when(v, since, until) for k, v in self.opts["params"].items()}
        token = self.opts["token"]
        headers = {self.opts["auth_header"]: self.opts["auth_prefix"] + token.reveal()} if token else {}
        self.bad = []
        url = self._when(self.opts["url"], since, until)
        with client_from_options(self.name, url, self.opts, headers=headers,
                                 credentials_hint="the token option") as client:
            items = ((page.number, n, item) for page in pages(client, "", params, self.paging)
                     for n, item in enumerate(page.items, 1))
            store(sink, self.opts["kind"], items, lambda i: self._record(*i, fields), self.opts["identity"])
        if self.bad:
            listed = "\n  ".join(self.bad[:MAX_LISTED])
            more = f"\n  … and {len(self.bad) - MAX_LISTED} more" if len(self.bad) > MAX_LISTED else ""
            raise InputError(f"connector {self.name!r}: {len(self.bad)} bad item(s); nothing from it was stored:\n"
                             f"  {listed}{more}\nFix the fields, value_map or formats options, or set "
                             "on_error = \"skip\" to score without these items (they are listed in the run report).")

    def _fields(self, kinds: dict) -> tuple[Field, ...]:
        """The record's fields, after checking the fields table against the kind."""
        kind = kinds.get(self.opts["kind"])
        where = f"connector {self.name!r}"
        if kind is None:
            raise InputError(f"{where}: kind {self.opts['kind']!r} is not a record kind"
                             f"{did_you_mean(self.opts['kind'], kinds)}; known: {', '.join(sorted(kinds))}")
        fields = ID_FIELDS + kind.fields
        names = [f.name for f in fields]
        for key in self.opts["fields"]:
            if key not in names:
                raise InputError(f"{where}: fields.{key} is not a field of {kind.name} records"
                                 f"{did_you_mean(key, names)}; its fields are {', '.join(names)}")
        missing = [f.name for f in fields if (f.required or f.name == "person") and f.name not in self.opts["fields"]]
        if missing:
            raise InputError(f"{where}: fields needs the JSON path of {', '.join(missing)} "
                             f"(e.g. {missing[0]} = \"id\")")
        times = [f.name for f in kind.fields if f.type in ("date", "datetime")]
        for key in self.opts["formats"]:
            if key not in times:
                raise InputError(f"{where}: formats.{key}: formats are for the date and time fields of "
                                 f"{kind.name} records ({', '.join(times)}){did_you_mean(key, times)}")
        return tuple(f for f in fields if f.name in self.opts["fields"])

    def _when(self, value: Any, since: int, until: int) -> Any:
        if not isinstance(value, str):
            return value
        return value.replace("{start}", self._time(since)).replace("{end}", self._time(until))

    def _time(self, epoch: int) -> str:
        fmt = self.opts["time_format"]
        if fmt in ("epoch", "epoch_ms"):
            return str(epoch * (1000 if fmt == "epoch_ms" else 1))
        local = datetime.fromtimestamp(epoch, ZoneInfo(self.tz))
        return {"iso": local.isoformat(), "date": local.date().isoformat()}.get(fmt) or local.strftime(fmt)

    def _record(self, page: int, n: int, item: Any, fields: tuple[Field, ...]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for f in fields:
            path = self.opts["fields"].get(f.name)
            raw = path_get(item, path) if path is not None else None
            try:
                row[f.name] = self._value(f, raw)
            except ValueProblem as exc:
                source_id = path_get(item, self.opts["fields"]["source_id"])
                reason = f"page {page}, item {n}: field {f.name} (JSON path {path!r}): {exc}"
                if self.opts["on_error"] == "stop":
                    self.bad.append(f"{self.opts['kind']} {source_id}: {reason}")
                raise Skip(source_id, reason) from None
        return row

    def _value(self, f: Field, raw: Any) -> Any:
        if isinstance(raw, (dict, list)):
            raise ValueProblem(f"is a JSON {'object' if isinstance(raw, dict) else 'list'}, not a value; "
                               "point the path at a value inside it")
        text = None if raw is None else raw if isinstance(raw, str) else json.dumps(raw)  # true, not True
        text = self.opts["value_map"].get(f.name, {}).get(text, text)
        if f.name in self.opts["formats"]:
            value = self._formatted(f, text)
        else:
            value = parse_value(f.type, text, self.tz)
        if value is None and f.required:
            raise ValueProblem("is missing but required")
        return value

    def _formatted(self, f: Field, text: str | None) -> Any:
        """A time in the format the site declared for this field."""
        if text is None or text.strip() == "":
            return None
        fmt = self.opts["formats"][f.name]
        try:
            if fmt in ("epoch", "epoch_ms"):
                when = datetime.fromtimestamp(float(text) / (1000 if fmt == "epoch_ms" else 1), ZoneInfo(self.tz))
            else:
                when = datetime.strptime(text.strip(), fmt)
                when = when if when.tzinfo else when.replace(tzinfo=ZoneInfo(self.tz))
        except (ValueError, OverflowError, OSError):
            raise ValueProblem(f"{text!r} does not match the format {fmt!r}") from None
        return when.date() if f.type == "date" else int(when.timestamp())


@hookimpl
def kpi_register_connectors(register):
    register("rest_json", RestJsonConnector)
