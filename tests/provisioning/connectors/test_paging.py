"""Paging declared in a profile: three styles read by ApiClient.pages() and items().

Each server below is a small list API following one paging contract (page numbers with a
page count, offset and limit, next links), over httpx.MockTransport; the hostile ones loop
their next link or never stop, and must end in a clear error rather than a hang.
"""

import json
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import httpx
import pytest

from provisioning.connectors.paging import NextLink, Offset, PageNumber, Whole, member
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.errors import AuthError, PermanentError

ROOT = "https://api.example.test/v1"
PEOPLE = [{"id": str(n), "email": f"p{n}@acme.com"} for n in range(1, 24)]
Answer = Callable[[httpx.Request], httpx.Response]


class Server:
    """A list API answering by ``answer``; remembers every request it received."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def client(self, paging: Any, vendor: str = "Acme") -> ApiClient:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.answer(request)

        http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
        return ApiClient(http, ROOT + "/", ApiProfile(vendor=vendor, paging=paging))

    def params(self, name: str) -> list[str | None]:
        return [request.url.params.get(name) for request in self.requests]


def numbered(size: int) -> Answer:
    """``?page=n`` (1-based) -> ``{"total_pages", "records"}``, as Tribal Habits answers."""

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        rows = PEOPLE[(page - 1) * size : page * size]
        total = -(-len(PEOPLE) // size)
        return httpx.Response(200, json={"total_pages": total, "records": rows})

    return answer


def offsets(cap: int) -> Answer:
    """``?offset=&limit=`` -> ``{"data": {"rows"}}``, ``limit`` capped below what is asked."""

    def answer(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["offset"])
        limit = min(int(request.url.params["limit"]), cap)
        return httpx.Response(200, json={"data": {"rows": PEOPLE[start : start + limit]}})

    return answer


def linked(size: int) -> Answer:
    """OData: ``{"value": [...], "@odata.nextLink": ".../people?$skiptoken=n"}``."""

    def answer(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("$skiptoken", "0"))
        body: dict[str, Any] = {"value": PEOPLE[start : start + size]}
        if start + size < len(PEOPLE):
            body["@odata.nextLink"] = f"{ROOT}/people?$skiptoken={start + size}"
        return httpx.Response(200, json=body)

    return answer


async def emails(api: ApiClient, **how: Any) -> list[str]:
    return [row["email"] async for row in api.items("/people", **how)]


ALL = [person["email"] for person in PEOPLE]


async def test_page_numbers_stop_at_the_declared_page_count() -> None:
    server = Server(numbered(size=5))
    api = server.client(PageNumber(items=("records",), total_pages=("total_pages",)))

    assert await emails(api) == ALL
    assert server.params("page") == ["1", "2", "3", "4", "5"]  # no sixth, empty page


async def test_page_numbers_without_a_count_stop_at_an_empty_page() -> None:
    server = Server(numbered(size=10))
    paging = PageNumber(items=("records",), param="page", size_param="per_page", size=10)

    assert await emails(server.client(paging)) == ALL
    assert server.params("page") == ["1", "2", "3", "4"]
    assert server.params("per_page") == ["10"] * 4


async def test_offsets_advance_by_the_rows_received_when_the_server_caps_the_limit() -> None:
    server = Server(offsets(cap=4))
    api = server.client(Offset(items=("data", "rows"), size=10))

    assert await emails(api) == ALL
    assert server.params("offset") == ["0", "4", "8", "12", "16", "20", "23"]
    assert set(server.params("limit")) == {"10"}


async def test_offsets_in_the_vendors_spelling_end_at_a_short_page() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        start, limit = map(int, request.url.params["paging"].split(","))
        return httpx.Response(200, json={"data": {"items": PEOPLE[start : start + limit]}})

    server = Server(answer)
    paging = Offset(
        items=("data", "items"), params={"paging": "{offset},{limit}"}, size=10,
        short_page_ends=True,
    )  # fmt: skip

    assert await emails(server.client(paging), params={"formerEmployees": "true"}) == ALL
    assert server.params("paging") == ["0,10", "10,10", "20,10"]
    assert server.params("formerEmployees") == ["true"] * 3


async def test_next_links_are_followed_to_the_last_page() -> None:
    server = Server(linked(size=10))
    api = server.client(NextLink(items=("value",), link=("@odata.nextLink",)))

    assert await emails(api) == ALL
    assert server.params("$skiptoken") == [None, "10", "20"]


async def test_a_whole_list_is_one_request() -> None:
    server = Server(lambda request: httpx.Response(200, json=PEOPLE))

    assert await emails(server.client(Whole()), params={"q": "x"}) == ALL
    assert server.params("q") == ["x"]


async def test_a_list_read_by_posting_a_query() -> None:
    """BambooHR's custom report: the fields wanted are POSTed, the rows come whole."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return httpx.Response(405)
        wanted = json.loads(request.content)["fields"]
        rows = [{name: person[name] for name in wanted} for person in PEOPLE]
        return httpx.Response(200, json={"fields": wanted, "employees": rows})

    server = Server(answer)
    api = server.client(Whole(items=("employees",)))
    rows = [
        row async for row in api.items("/reports", {"format": "JSON"}, query={"fields": ["email"]})
    ]

    assert rows == [{"email": email} for email in ALL]
    assert server.params("format") == ["JSON"]


async def test_items_asks_for_a_page_only_when_the_rows_before_it_are_consumed() -> None:
    """A full read of 100,000 people holds one page, not the whole list."""
    server = Server(numbered(size=5))
    api = server.client(PageNumber(items=("records",), total_pages=("total_pages",)))

    async with aclosing(api.items("/people")) as rows:
        first = [await anext(rows) for _ in range(6)]

    assert [row["id"] for row in first] == ["1", "2", "3", "4", "5", "6"]
    assert server.params("page") == ["1", "2"]


async def test_first_page_reads_one_page_only_and_checks_it_is_the_list() -> None:
    server = Server(numbered(size=5))
    api = server.client(PageNumber(items=("records",), total_pages=("total_pages",)))

    assert [row["id"] for row in await api.first_page("/people")] == ["1", "2", "3", "4", "5"]
    assert server.params("page") == ["1"]
    not_the_list = Server(lambda request: httpx.Response(200, json={"error": "wrong path"}))
    with pytest.raises(PermanentError, match="without a list at records"):
        await not_the_list.client(PageNumber(items=("records",))).first_page("/people")


async def test_a_next_link_that_loops_is_an_error_not_a_hang() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        # page 2 links back to page 1, whose link leads to page 2 again
        back = "1" if request.url.params.get("$skiptoken") == "2" else "2"
        link = f"{ROOT}/people?$skiptoken={back}"
        return httpx.Response(200, json={"value": PEOPLE[:1], "@odata.nextLink": link})

    server = Server(answer)
    api = server.client(NextLink(items=("value",), link=("@odata.nextLink",)))

    with pytest.raises(PermanentError, match="sent the same page of /people twice"):
        await emails(api)
    assert len(server.requests) == 3


async def test_more_pages_than_the_bound_is_an_error_not_a_hang() -> None:
    """A server whose page count never ends (or that ignores the filter) is stopped."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"total_pages": 10**9, "records": PEOPLE[:2]})

    server = Server(answer)
    api = server.client(PageNumber(items=("records",), total_pages=("total_pages",)))

    with pytest.raises(PermanentError, match="more than 7 pages for /people"):
        await emails(api, max_pages=7)
    assert len(server.requests) == 7

    bounded = server.client(PageNumber(items=("records",), max_pages=3))
    with pytest.raises(PermanentError, match="more than 3 pages"):
        await emails(bounded)


async def test_a_next_link_outside_the_api_root_is_not_followed() -> None:
    """The credentials go with every request: a link elsewhere would hand them over."""

    def answer(request: httpx.Request) -> httpx.Response:
        link = "https://api.example.test.evil.example/v1/people?$skiptoken=1"
        return httpx.Response(200, json={"value": PEOPLE[:1], "@odata.nextLink": link})

    server = Server(answer)
    api = server.client(NextLink(items=("value",), link=("@odata.nextLink",)))

    with pytest.raises(PermanentError, match="next page link leaves the configured service"):
        await emails(api)
    assert len(server.requests) == 1


async def test_a_page_without_its_list_names_the_vendor_and_the_member() -> None:
    server = Server(lambda request: httpx.Response(200, json={"data": {"rows": "none"}}))
    api = server.client(Offset(items=("data", "rows")), vendor="TalentHR")

    with pytest.raises(
        PermanentError, match="TalentHR answered /people without a list at data.rows"
    ):
        await emails(api)


async def test_a_failed_page_raises_its_typed_error() -> None:
    server = Server(lambda request: httpx.Response(401, json={"message": "bad key"}))
    api = server.client(Offset(items=("rows",)))

    with pytest.raises(AuthError, match="bad key"):
        await emails(api)


async def test_a_profile_without_paging_cannot_list() -> None:
    api = Server(numbered(size=5)).client(None)

    with pytest.raises(TypeError, match="declares no paging"):
        await emails(api)


def test_member_reads_a_path_and_none_where_the_body_has_none() -> None:
    body = {"data": {"rows": [1]}, "@odata.nextLink": "x"}
    assert member(body, ("data", "rows")) == [1]
    assert member(body, ("@odata.nextLink",)) == "x"
    assert member(body, ("data", "rows", "more")) is None
    assert member([body], ("data",)) is None


async def test_json_reads_an_envelope_member_or_names_the_missing_one() -> None:
    server = Server(lambda request: httpx.Response(200, json={"data": {"id": 7}}))
    api = server.client(None, vendor="Lucca")
    response = await api.call("GET", "/users/7")

    assert api.json(response, "data") == {"id": 7}
    with pytest.raises(PermanentError, match="Lucca answered 200 without a JSON data.items member"):
        api.json(response, "data", "items")
