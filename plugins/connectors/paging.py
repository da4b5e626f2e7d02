"""Walking an API's pages to the end, in the styles helpdesks use, and finding values in JSON by a
dotted path. Shared by every API connector (the generic rest_json one exposes all of it in the config).

Styles:

- ``page``: a page-number parameter from `first_page`, with `size` items a page, until an empty page;
- ``offset``: an offset parameter advanced by the number of items received, until an empty page;
- ``next_url``: the next page's URL at a JSON path of the body, until it is empty;
- ``link``: the ``Link: <…>; rel="next"`` header (RFC 8288), until there is none;
- ``cursor``: a cursor at a JSON path of the body, sent back in `cursor_param`, until it is empty
  or a page is empty;
- ``none``: one request.

In every style a `done` path that holds true, or a `more` path that holds false, ends the walk.
A short page does not: servers cap page sizes below what was asked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urljoin

import requests

from kpi.core.errors import InputError

from .http import HttpClient, safe_url

STYLES = ("page", "offset", "next_url", "link", "cursor", "none")


def path_get(obj: Any, path: str) -> Any:
    """The value at a dotted path such as ``data.items`` or ``stats.0.at`` ("" or "$" is `obj`
    itself); None where the path leads nowhere."""
    path = path.removeprefix("$").lstrip(".")
    if not path:
        return obj
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.lstrip("-").isdigit() and -len(obj) <= int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
        if obj is None:
            return None
    return obj


@dataclass(frozen=True)
class Paging:
    """How an endpoint's pages follow each other, and where a page's items are."""

    style: str = "none"
    items: str = ""                   # JSON path of the list of items ("" = the body is the list)
    page_param: str = "page"
    first_page: int = 1
    size_param: str = "per_page"      # page and offset styles: the page size parameter ("" = none)
    size: int = 100
    offset_param: str = "offset"
    next_url: str = "next_page"
    cursor: str = "after_cursor"
    cursor_param: str = "cursor"
    done: str = ""                    # a JSON path that is true on the last page
    more: str = ""                    # a JSON path that is false on the last page
    first_only: tuple[str, ...] = ()  # parameters sent with the first request only (cursor style)


@dataclass
class Page:
    number: int
    items: list
    body: Any
    response: requests.Response


def pages(client: HttpClient, url: str, params: dict[str, Any], paging: Paging) -> Iterator[Page]:
    """Every page of `url`, in order, to the end."""
    if paging.style not in STYLES:
        raise ValueError(f"unknown paging style {paging.style!r}")
    base = dict(params)
    if paging.style in ("page", "offset") and paging.size_param:
        base[paging.size_param] = paging.size
    query: dict[str, Any] | None = dict(base)
    position = paging.first_page if paging.style == "page" else 0
    seen: set[str] = set()
    number = 0
    while True:
        if paging.style == "page":
            query[paging.page_param] = position
        elif paging.style == "offset":
            query[paging.offset_param] = position
        number += 1
        body, response = client.get_json(url, query)
        items = _items(client, body, paging.items, response)
        yield Page(number, items, body, response)
        if paging.style == "none" or _last(body, paging):
            return
        if paging.style in ("page", "offset"):
            if not items:
                return
            position += 1 if paging.style == "page" else len(items)
            step = hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()
        elif paging.style == "cursor":
            cursor = path_get(body, paging.cursor)
            if cursor in (None, "") or not items:
                return
            query = {k: v for k, v in base.items() if k not in paging.first_only}
            query[paging.cursor_param] = cursor
            step = f"cursor {cursor}"
        else:
            if paging.style == "link":
                nxt = response.links.get("next", {}).get("url")
            else:
                nxt = path_get(body, paging.next_url)
            if nxt in (None, ""):
                return
            url, query = urljoin(response.url, str(nxt)), None  # a relative link is relative to its page
            step = client.url(url)
        if step in seen:
            # A server that ignores the paging parameter would otherwise be read forever.
            raise InputError(f"connector {client.connector!r}: GET {safe_url(response.url)} gave the same "
                             f"{'page' if paging.style in ('page', 'offset') else 'next page'} twice; the server does "
                             f"not page the way the connector asks: check the paging settings")
        seen.add(step)


def _last(body: Any, paging: Paging) -> bool:
    return bool((paging.done and path_get(body, paging.done)) or
                (paging.more and not path_get(body, paging.more)))


def _items(client: HttpClient, body: Any, path: str, response: requests.Response) -> list:
    items = path_get(body, path)
    if isinstance(items, list):
        return items
    if isinstance(body, dict):
        keys = f"its keys are {', '.join(map(repr, list(body)[:20]))}"
    else:
        keys = f"it is a {type(body).__name__}"
    shown = client.scrub(json.dumps(body, ensure_ascii=False, default=str)[:200])
    raise InputError(f"connector {client.connector!r}: GET {safe_url(response.url)}: the body has no list at "
                     f"{path or 'its top level'!r} ({keys}; it begins {shown}). Set the items path to where the "
                     "list is, or check the credentials if this is an error message")
