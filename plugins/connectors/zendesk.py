"""Zendesk Support: tickets from the cursor-based incremental export with their metric sets, and
satisfaction ratings.

    [[connector]]
    name = "zendesk"
    use = "zendesk"
    url = "https://acme.zendesk.com"
    email = "${ZENDESK_EMAIL}"
    token = "${ZENDESK_TOKEN}"

| option | meaning |
|---|---|
| `email`, `token` | the agent an API token belongs to, and the token (Admin Center → Apps and integrations → Zendesk API); both `"${ENV}"` references |
| `ratings` | also read satisfaction ratings (default true) |
| `url`, `person`, `priority_map`, `channel_map`, `overlap_days`, `incremental`, `identity`, `timeout`, `retries`, `max_wait` | see :mod:`kpi.plugins.connectors.helpdesk` |

Tickets: ``GET /api/v2/incremental/tickets/cursor.json?start_time=…&include=metric_sets``, then
``?cursor=after_cursor`` until ``end_of_stream``: every ticket updated since the window began
(each lands in the period of its creation). A ticket becomes a ``ticket`` record: source_id = id,
person = assignee_id, created_at, first_reply_at = created_at + the metric set's
reply_time_in_minutes (calendar), resolved_at = solved_at, priority, channel = via.channel,
reopens. Deleted tickets are skipped and reported. Zendesk allows 10 export requests a minute:
a 429 waits for its Retry-After.

Ratings: ``GET /api/v2/satisfaction_ratings?start_time=…&end_time=…``, following next_page. Score
good → good, bad → not good, offered (sent, not answered) → unrated, which CSAT leaves out;
rated_at = updated_at (when the customer answered).

With ``person = "email"`` the agents' emails come from ``GET /api/v2/users?role[]=agent&role[]=admin``.
"""

from __future__ import annotations

from typing import Any, Iterator

from kpi.core import hookimpl
from kpi.core.options import Option

from .helpdesk import VENDOR_OPTIONS, ApiConnector, Skip, agent_ids, at, channel, person, priority, store
from .http import HttpClient, client_from_options
from .paging import Paging, pages, path_get

TICKETS = Paging("cursor", items="tickets", cursor="after_cursor", cursor_param="cursor", done="end_of_stream",
                 first_only=("start_time",))
RATINGS = Paging("next_url", items="satisfaction_ratings", next_url="next_page")
USERS = Paging("next_url", items="users", next_url="next_page")
SCORES = {"good": True, "bad": False}  # offered / unoffered: no answer, so no CSAT vote


class ZendeskConnector(ApiConnector):
    options = {
        **VENDOR_OPTIONS,
        "email": Option("str", required=True, secret=True, help="the agent the API token belongs to"),
        "token": Option("str", required=True, secret=True, help="a Zendesk API token"),
        "ratings": Option("bool", default=True, help="also read satisfaction ratings"),
    }

    def read(self, period, sink, since: int, until: int) -> None:
        auth = (f"{self.opts['email'].reveal()}/token", self.opts["token"].reveal())
        with client_from_options(self.name, self.opts["url"], self.opts, auth=auth,
                                 credentials_hint="the email and token options") as client:
            emails = None
            if self.opts["person"] == "email":
                emails = agent_ids(client, "/api/v2/users", {"role[]": ["agent", "admin"]}, USERS)
            store(sink, "ticket", self._tickets(client, since), lambda item: self._ticket(*item, emails),
                  self.opts["identity"])
            if self.opts["ratings"]:
                ratings = (r for page in pages(client, "/api/v2/satisfaction_ratings",
                                               {"start_time": since, "end_time": until}, RATINGS) for r in page.items)
                store(sink, "rating", ratings, lambda r: self._rating(r, emails), self.opts["identity"])

    def _tickets(self, client: HttpClient, since: int) -> Iterator[tuple[dict, dict | None]]:
        params = {"start_time": since, "include": "metric_sets"}
        for page in pages(client, "/api/v2/incremental/tickets/cursor.json", params, TICKETS):
            metrics = {m.get("ticket_id"): m for m in page.body.get("metric_sets") or []}
            for ticket in page.items:
                yield ticket, metrics.get(ticket.get("id"))

    def _ticket(self, ticket: dict[str, Any], metrics: dict | None, emails) -> dict[str, Any]:
        where = f"connector {self.name!r}: ticket {ticket.get('id')}"
        if ticket.get("status") == "deleted":
            raise Skip(ticket.get("id"), "deleted in Zendesk", gone=True)
        created = at(ticket.get("created_at"), self.tz, f"{where}: created_at", required=True)
        reply = path_get(metrics, "reply_time_in_minutes.calendar")
        return {"source_id": str(ticket["id"]), "person": person(ticket.get("assignee_id"), emails),
                "created_at": created,
                "first_reply_at": created + int(reply) * 60 if reply is not None else None,
                "resolved_at": at(path_get(metrics, "solved_at"), self.tz, f"{where}: solved_at"),
                "priority": priority(ticket.get("priority"), self.opts["priority_map"]),
                "channel": channel(path_get(ticket, "via.channel"), self.opts["channel_map"]),
                "reopens": path_get(metrics, "reopens")}

    def _rating(self, rating: dict[str, Any], emails) -> dict[str, Any]:
        where = f"connector {self.name!r}: satisfaction rating {rating.get('id')}"
        return {"source_id": str(rating["id"]), "person": person(rating.get("assignee_id"), emails),
                "rated_at": at(rating.get("updated_at") or rating.get("created_at"), self.tz, f"{where}: updated_at",
                               required=True),
                "good": SCORES.get(rating.get("score")),
                "ticket_id": None if rating.get("ticket_id") is None else str(rating["ticket_id"])}


@hookimpl
def kpi_register_connectors(register):
    register("zendesk", ZendeskConnector)
