"""A vendor's HTTP behaviour declared once as data, and the one client that reads it.

A vendor module used to wrap :func:`provisioning.responses.call` in its own ``_call``,
passing the same rules on every request (message reader, throttle and conflict statuses,
default wait, headers, what a 404 on an account means). It now declares an
:class:`ApiProfile` next to its field map, and its methods send through an
:class:`ApiClient` built from that profile, the connection's base URL and its client::

    PROFILE = ApiProfile(vendor="BambooHR", read_message=read_bamboohr_error,
                         throttle_statuses=(429, 503), headers={"Accept": "application/json"})
    ...
    self._api = ApiClient(setup.http, root, PROFILE)
    await self._api.call("POST", _path(account), body, gone=account)

A profile also declares how the vendor pages its lists (:mod:`provisioning.connectors.paging`):
``ApiClient.items(path)`` then yields every row of a list, one page held at a time, with
the same rules on every page, and stops an API that loops or never ends.
"""

import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from provisioning.connectors.base import RemoteAccount
from provisioning.connectors.paging import Paging, Path, Step, member
from provisioning.errors import PermanentError, RateLimited
from provisioning.responses import (
    MessageReader,
    ResponseTest,
    account_gone,
    call,
    default_message,
    read_json,
)

#: Turns a request body into bytes when ``json=`` (httpx's own encoding) will not do.
BodyEncoder = Callable[[Any], bytes]
#: Turns a throttle naming no wait into the one to raise, having asked the vendor how long.
ThrottleReader = Callable[[RateLimited], Awaitable[RateLimited]]


@dataclass(frozen=True)
class ApiProfile:
    """How one vendor's API answers, as data (the rules of :func:`responses.call`).

    Attributes:
        vendor: names the vendor in messages ("BambooHR answered 200 without a JSON body").
        read_message: reads the vendor's error body into the delivery row's message.
        headers: sent on every request (``Accept``...).
        body_type: the ``Content-Type`` of a request with a body, when not httpx's
            ``application/json`` (SCIM's ``application/scim+json``).
        encode_body: encodes a body the vendor wants in its own way (dates, lists);
            None sends it with httpx's ``json=``.
        throttle_statuses: statuses meaning "slow down" (:class:`RateLimited`).
        conflict_statuses: statuses meaning "already exists" (:class:`ConflictError`).
        is_conflict: recognises a conflict its status does not say (a 400 or 422).
        default_wait: the wait of a throttled answer without ``Retry-After``.
        gone: what a 404 on an account's path is about, with ``{id}`` and ``{path}``.
        json_hint: ends the "answered without a JSON body" message (where to look).
        paging: how the vendor pages its lists (:mod:`provisioning.connectors.paging`),
            read by :meth:`ApiClient.pages` and :meth:`ApiClient.items`.
    """

    vendor: str
    read_message: MessageReader = default_message
    headers: Mapping[str, str] = field(default_factory=dict)
    body_type: str | None = None
    encode_body: BodyEncoder | None = None
    throttle_statuses: Collection[int] = (429,)
    conflict_statuses: Collection[int] = (409,)
    is_conflict: ResponseTest | None = None
    default_wait: float | None = None
    gone: str = "the remote account {id}"
    json_hint: str = ""
    paging: Paging | None = None


class ApiClient:
    """Sends a vendor's requests under its :class:`ApiProfile`, relative to its API root.

    ``on_throttle`` works out the wait of a throttled answer that names none (no
    ``Retry-After``) when the vendor tells it elsewhere (TalentLMS's ``/ratelimit``): it
    gets that :class:`RateLimited` and returns the one to raise instead. It asks the
    vendor through a client without the hook, so that a throttled question cannot recurse.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base: str,
        profile: ApiProfile,
        *,
        on_throttle: ThrottleReader | None = None,
    ) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.profile = profile
        self._on_throttle = on_throttle

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        gone: RemoteAccount | None = None,
        missing_ok: bool = False,
        tolerate: ResponseTest | None = None,
        label: str | None = None,
    ) -> httpx.Response:
        """Send one request; the typed error of a failure is raised (see responses.call).

        ``path`` follows the API root, unless it is a whole URL (an OData ``nextLink`` the
        caller has checked). ``headers`` add to the profile's. A 404 is returned when
        ``missing_ok``; it is the "account gone" error when ``gone`` names the account
        (``label`` replaces the method in its message). A failure ``tolerate`` accepts is
        returned for the caller to read. A throttle naming no wait goes to ``on_throttle``.
        """
        rules = self.profile
        sent = {**rules.headers, **(headers or {})}
        content, json_body = None, body
        if body is not None and rules.body_type is not None:
            sent["Content-Type"] = rules.body_type
        if body is not None and rules.encode_body is not None:
            content, json_body = rules.encode_body(body), None
        missing = None
        if gone is not None:
            what = rules.gone.format(id=gone.id, path=path)
            missing = account_gone(what, label or method)
        try:
            return await call(
                self.http,
                method,
                path if path.startswith(("https://", "http://")) else self.base + path,
                json=json_body,
                data=data,
                content=content,
                params=params,
                headers=sent or None,
                missing_ok=missing_ok,
                missing=missing,
                tolerate=tolerate,
                read_message=rules.read_message,
                throttle_statuses=rules.throttle_statuses,
                conflict_statuses=rules.conflict_statuses,
                is_conflict=rules.is_conflict,
                default_wait=rules.default_wait,
            )
        except RateLimited as exc:
            if exc.retry_after is not None or self._on_throttle is None:
                raise
            raise await self._on_throttle(exc) from None

    def json(self, response: httpx.Response, *path: str) -> Any:
        """The response's JSON body, or the member at ``path`` in it (``"data"``).

        Raises:
            PermanentError: no JSON body (naming the vendor and the profile's hint), or
                no member at ``path``.
        """
        body = read_json(response, self.profile.vendor, self.profile.json_hint)
        if not path:
            return body
        found = member(body, path)
        if found is None:
            raise PermanentError(
                f"{self.profile.vendor} answered {response.status_code} without a JSON "
                f"{'.'.join(path)} member",
                status=response.status_code,
            )
        return found

    async def items(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        paging: Paging | None = None,
        max_pages: int | None = None,
        query: Any = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Every row of a list, page after page, as the vendor's paging says.

        A page is asked for only when the rows before it are consumed, so a full read of
        100,000 people holds one page at a time. Arguments as for :meth:`pages`.
        """
        pages = self.pages(path, params, paging=paging, max_pages=max_pages, query=query)
        async for rows in pages:
            for row in rows:
                yield row

    async def first_page(self, path: str, params: Mapping[str, str] | None = None) -> list[Any]:
        """The first page of a list only: proves the credentials and that ``path`` is the
        list (a wrong base URL answers something else). Errors as for :meth:`pages`."""
        async with aclosing(self.pages(path, params)) as pages:
            return await anext(pages, [])

    async def pages(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        paging: Paging | None = None,
        max_pages: int | None = None,
        query: Any = None,
    ) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The pages of a list (their object rows), following ``paging`` or the profile's.

        Each page is a ``GET``, or a ``POST`` of ``query`` when the vendor reads its list
        from a body (BambooHR's custom reports).

        Raises:
            PermanentError: a page without its list, a next link outside the API root
                (the credentials would follow it), a page asked for twice (the API
                loops), or more than ``max_pages`` pages (default: the style's bound).
        """
        style = paging or self.profile.paging
        if style is None:
            raise TypeError(f"{self.profile.vendor}'s profile declares no paging")
        bound = max_pages or style.max_pages
        step: Step | None = style.start(path, params or {})
        asked: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        while step is not None:
            self._check_page(step, asked, bound, path)
            asked.add(step.key())
            method = "GET" if query is None else "POST"
            response = await self.call(method, step.path, query, params=dict(step.params) or None)
            body = self.json(response)
            rows = self._rows(body, style.items, path)
            yield rows
            step = style.after(step, body, len(rows))

    def _check_page(self, step: Step, asked: Collection[object], bound: int, path: str) -> None:
        vendor = self.profile.vendor
        if len(asked) >= bound:
            raise PermanentError(
                f"{vendor} answered more than {bound} pages for {path}: "
                "is it ignoring the paging or the filter?"
            )
        if step.key() in asked:
            raise PermanentError(f"{vendor} sent the same page of {path} twice: its paging loops")
        whole = step.path.startswith(("https://", "http://"))
        if whole and not step.path.startswith(self.base + "/"):
            # The credentials go with every request: never follow a link elsewhere.
            raise PermanentError(f"{vendor}'s next page link leaves the configured service")

    def _rows(self, body: Any, items: Path, path: str) -> list[dict[str, Any]]:
        rows = member(body, items)
        if not isinstance(rows, list):
            raise PermanentError(
                f"{self.profile.vendor} answered {path} without a list at {'.'.join(items)}"
            )
        return [row for row in rows if isinstance(row, dict)]


def json_encoder(default: Callable[[Any], Any]) -> BodyEncoder:
    """A body encoder writing JSON with ``default`` for the values json cannot (dates)."""

    def encode(body: Any) -> bytes:
        return json.dumps(body, default=default).encode("utf-8")

    return encode
