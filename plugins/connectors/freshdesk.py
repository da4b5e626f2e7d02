"""Freshdesk: tickets with their stats, and satisfaction ratings.

    [[connector]]
    name = "freshdesk"
    use = "freshdesk"
    url = "https://acme.freshdesk.com"
    api_key = "${FRESHDESK_API_KEY}"

| option | meaning |
|---|---|
| `api_key` | an agent's API key (Profile settings → View API key), as a `"${ENV}"` reference |
| `ratings` | also read satisfaction ratings (default true) |
| `neutral` | what a neutral survey answer counts as: `bad` (as Freshdesk's own CSAT report, the default) or `unrated` |
| `url`, `person`, `priority_map`, `channel_map`, `overlap_days`, `incremental`, `identity`, `timeout`, `retries`, `max_wait` | see :mod:`kpi.plugins.connectors.helpdesk` |

Tickets: ``GET /api/v2/tickets?updated_since=…&include=stats&per_page=100&page=1``, following the
``Link: <…>; rel="next"`` header to the end. A ticket becomes a ``ticket`` record: source_id = id,
person = responder_id, created_at, first_reply_at = stats.first_responded_at, resolved_at =
stats.resolved_at (else closed_at), priority (1–4 read as low, medium, high, urgent, then
priority_map), channel (the source code's name: email, portal, phone, chat …), reopens = 1 if
stats.reopened_at is set, else 0 (Freshdesk keeps only the last reopening, not a count).

Ratings: ``GET /api/v2/surveys/satisfaction_ratings?created_since=…``, Link pages. The default
question's answer above 100 (happy) is good, below 100 is not, 100 is neutral.

With ``person = "email"`` the agents' emails come from ``GET /api/v2/agents``. Freshdesk answers a
page number above 300 with an error: read a busy helpdesk with fewer overlap days.
"""

from __future__ import annotations

from typing import Any

from kpi.core import hookimpl
from kpi.core.options import Option

from .helpdesk import VENDOR_OPTIONS, ApiConnector, agent_ids, at, channel, iso_utc, person, priority, store
from .http import client_from_options
from .paging import Paging, pages, path_get

LINKED = Paging("link")
PRIORITIES = {1: "low", 2: "medium", 3: "high", 4: "urgent"}
SOURCES = {1: "email", 2: "portal", 3: "phone", 4: "forum", 5: "twitter", 6: "facebook", 7: "chat", 8: "mobihelp",
           9: "feedback_widget", 10: "outbound_email"}
NEUTRAL = 100  # Freshdesk's answer codes: 101..103 happy, 100 neutral, -101..-103 unhappy


class FreshdeskConnector(ApiConnector):
    options = {
        **VENDOR_OPTIONS,
        "api_key": Option("str", required=True, secret=True, help="an agent's Freshdesk API key"),
        "ratings": Option("bool", default=True, help="also read satisfaction ratings"),
        "neutral": Option("str", default="bad", choices=("bad", "unrated"),
                          help="what a neutral survey answer counts as in CSAT"),
    }

    def read(self, period, sink, since: int, until: int) -> None:
        with client_from_options(self.name, self.opts["url"], self.opts, auth=(self.opts["api_key"].reveal(), "X"),
                                 credentials_hint="the api_key option") as client:
            emails = None
            if self.opts["person"] == "email":
                emails = agent_ids(client, "/api/v2/agents", {"per_page": 100, "page": 1}, LINKED, "contact.email")
            params = {"updated_since": iso_utc(since), "include": "stats", "order_by": "updated_at",
                      "order_type": "asc", "per_page": 100, "page": 1}
            tickets = (t for page in pages(client, "/api/v2/tickets", params, LINKED) for t in page.items)
            store(sink, "ticket", tickets, lambda t: self._ticket(t, emails), self.opts["identity"])
            if self.opts["ratings"]:
                params = {"created_since": iso_utc(since), "per_page": 100, "page": 1}
                ratings = (r for page in pages(client, "/api/v2/surveys/satisfaction_ratings", params, LINKED)
                           for r in page.items)
                store(sink, "rating", ratings, lambda r: self._rating(r, emails), self.opts["identity"])

    def _ticket(self, ticket: dict[str, Any], emails) -> dict[str, Any]:
        where = f"connector {self.name!r}: ticket {ticket.get('id')}"
        stats = ticket.get("stats")
        return {"source_id": str(ticket["id"]), "person": person(ticket.get("responder_id"), emails),
                "created_at": at(ticket.get("created_at"), self.tz, f"{where}: created_at", required=True),
                "first_reply_at": at(path_get(stats, "first_responded_at"), self.tz, f"{where}: first_responded_at"),
                "resolved_at": at(path_get(stats, "resolved_at") or path_get(stats, "closed_at"), self.tz,
                                  f"{where}: resolved_at"),
                "priority": priority(PRIORITIES.get(ticket.get("priority"), ticket.get("priority")),
                                     self.opts["priority_map"]),
                "channel": channel(SOURCES.get(ticket.get("source"), ticket.get("source")), self.opts["channel_map"]),
                "reopens": None if stats is None else int(bool(stats.get("reopened_at")))}

    def _rating(self, rating: dict[str, Any], emails) -> dict[str, Any]:
        answer = path_get(rating, "ratings.default_question")
        good = None  # no answer to the default question: unrated
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            if answer == NEUTRAL:
                good = False if self.opts["neutral"] == "bad" else None
            else:
                good = answer > NEUTRAL
        return {"source_id": str(rating["id"]), "person": person(rating.get("agent_id"), emails),
                "rated_at": at(rating.get("created_at"), self.tz,
                               f"connector {self.name!r}: satisfaction rating {rating.get('id')}: created_at",
                               required=True),
                "good": good,
                "ticket_id": None if rating.get("ticket_id") is None else str(rating["ticket_id"])}


@hookimpl
def kpi_register_connectors(register):
    register("freshdesk", FreshdeskConnector)
