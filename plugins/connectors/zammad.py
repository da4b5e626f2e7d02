"""Zammad: tickets found by an updated-since search (or the whole ticket list), page by page.

    [[connector]]
    name = "zammad"
    use = "zammad"
    url = "https://helpdesk.example.com"
    token = "${ZAMMAD_TOKEN}"

| option | meaning |
|---|---|
| `token` | an access token (Profile → Token Access, permission ticket.agent), as a `"${ENV}"` reference |
| `query` | the search, `{since}` being the UTC day the window starts (default `updated_at:>={since}`); `""` reads ``/api/v1/tickets`` whole instead |
| `page_size` | tickets (and users) a page (default 100) |
| `url`, `person`, `priority_map`, `channel_map`, `overlap_days`, `incremental`, `identity`, `timeout`, `retries`, `max_wait` | see :mod:`kpi.plugins.connectors.helpdesk` |

Tickets: ``GET /api/v1/tickets/search?query=…&expand=true&sort_by=updated_at&order_by=asc&page=N&per_page=M``
from page 1 until an empty page (Zammad sends no total and no Link header). A ticket becomes a
``ticket`` record: source_id = id, person = owner_id (1 is Zammad's "nobody": not attributed),
created_at, first_reply_at = first_response_at, resolved_at = close_at, priority (the name after
its number: "3 high" → high, then priority_map), channel = create_article_type. Zammad keeps no
reopen count. It has no satisfaction ratings.

With ``person = "email"`` the agents' emails come from ``GET /api/v1/users?expand=true``, paged the same way.
"""

from __future__ import annotations

import re
from typing import Any

from kpi.core import hookimpl
from kpi.core.options import Option

from .helpdesk import VENDOR_OPTIONS, ApiConnector, agent_ids, at, channel, iso_utc, person, priority, store
from .http import client_from_options
from .paging import Paging, pages

NOBODY = 1  # Zammad's system user, the owner of unassigned tickets


class ZammadConnector(ApiConnector):
    options = {
        **VENDOR_OPTIONS,
        "token": Option("str", required=True, secret=True, help="a Zammad access token"),
        "query": Option("str", default="updated_at:>={since}",
                        help="the ticket search; {since} is the UTC day the window starts; \"\" lists all tickets"),
        "page_size": Option("int", default=100, help="items a page"),
    }

    def read(self, period, sink, since: int, until: int) -> None:
        paging = Paging("page", size=self.opts["page_size"])
        headers = {"Authorization": f"Token token={self.opts['token'].reveal()}"}
        with client_from_options(self.name, self.opts["url"], self.opts, headers=headers,
                                 credentials_hint="the token option") as client:
            emails = None
            if self.opts["person"] == "email":
                emails = agent_ids(client, "/api/v1/users", {"expand": "true"}, paging)
            if self.opts["query"]:
                url, params = "/api/v1/tickets/search", {
                    "query": self.opts["query"].replace("{since}", iso_utc(since)[:10]), "expand": "true",
                    "sort_by": "updated_at", "order_by": "asc"}
            else:
                url, params = "/api/v1/tickets", {"expand": "true"}
            tickets = (t for page in pages(client, url, params, paging) for t in page.items)
            store(sink, "ticket", tickets, lambda t: self._ticket(t, emails), self.opts["identity"])

    def _ticket(self, ticket: dict[str, Any], emails) -> dict[str, Any]:
        where = f"connector {self.name!r}: ticket {ticket.get('id')}"
        owner = ticket.get("owner_id")
        return {"source_id": str(ticket["id"]), "person": person(None if owner == NOBODY else owner, emails),
                "created_at": at(ticket.get("created_at"), self.tz, f"{where}: created_at", required=True),
                "first_reply_at": at(ticket.get("first_response_at"), self.tz, f"{where}: first_response_at"),
                "resolved_at": at(ticket.get("close_at"), self.tz, f"{where}: close_at"),
                "priority": priority(re.sub(r"^\d+\s+", "", str(ticket.get("priority") or "")),
                                     self.opts["priority_map"]),
                "channel": channel(ticket.get("create_article_type"), self.opts["channel_map"])}


@hookimpl
def kpi_register_connectors(register):
    register("zammad", ZammadConnector)
