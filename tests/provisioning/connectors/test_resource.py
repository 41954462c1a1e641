"""Resource and ResourceTarget: a vendor's accounts declared once, the methods read from it.

The server is a small user API over httpx.MockTransport holding accounts in a dict: it
answers 404 for an unknown id, as the vendors' contracts say, and records every request.
"""

import json
from datetime import date
from typing import Any, ClassVar

import httpx
import pytest

from provisioning.connectors.base import DeliveryContext, RemoteAccount
from provisioning.connectors.fields import day_in
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.connectors.resource import Resource, ResourceTarget, matching, same
from provisioning.errors import PermanentError

CONTEXT = DeliveryContext("t", "c", "User", "u1", 1, "update")


class Users:
    """``/users/{id}``: GET, PUT (merging the fields sent), DELETE; records in ``data``."""

    def __init__(self, envelope: bool = True, echo: bool = True) -> None:
        self.users: dict[str, dict[str, Any]] = {"a/b": {"id": "a/b", "active": True}}
        self.requests: list[httpx.Request] = []
        self.envelope, self.echo = envelope, echo

    def client(self, resource: Resource) -> "Target":
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            ident = request.url.raw_path.decode().split("?")[0].removeprefix("/v1/users/")
            user = self.users.get(ident.replace("%2F", "/"))
            if user is None:
                return httpx.Response(404, json={"message": "no such user"})
            if request.method == "DELETE":
                del self.users[user["id"]]
                return httpx.Response(204)
            if request.method in ("PUT", "POST"):
                user.update(json.loads(request.content))
                if not self.echo:
                    return httpx.Response(204)
            return httpx.Response(200, json={"data": user} if self.envelope else user)

        http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
        target = Target()
        target._api = ApiClient(http, "https://api.example.test/v1", ApiProfile(vendor="Acme"))
        target.resource = resource  # type: ignore[misc]
        return target


class Target(ResourceTarget):
    resource: ClassVar[Resource]


USERS = Resource(
    noun="user",
    item="/users/{id}",
    envelope=("data",),
    lookups={"email": "mail"},
    answer="record",
    status={True: {"active": True}, False: {"active": False}},
)
ACCOUNT = RemoteAccount(id="a/b")


async def test_status_writes_use_the_declared_bodies_at_the_quoted_path() -> None:
    server = Users()
    target = server.client(USERS)

    await target.deactivate(ACCOUNT, CONTEXT)
    assert server.users["a/b"]["active"] is False
    await target.reactivate(ACCOUNT, CONTEXT)
    assert server.users["a/b"]["active"] is True
    assert {r.url.raw_path for r in server.requests} == {b"/v1/users/a%2Fb"}
    assert [r.method for r in server.requests] == ["PUT", "PUT"]


async def test_update_answers_the_record_inside_the_envelope() -> None:
    server = Users()
    updated = await server.client(USERS).update(ACCOUNT, {"mail": "x@acme.com"}, CONTEXT)
    assert updated.id == "a/b" and updated.active is True
    assert updated.fields["mail"] == "x@acme.com"


def test_a_record_is_active_as_its_status_body_says_and_unknown_otherwise() -> None:
    target = Users().client(USERS)
    assert target._account({"id": "1", "active": True}).active is True
    assert target._account({"id": "1", "active": False}).active is False
    for unknown in ({"id": "1"}, {"id": "1", "active": 1}, {"id": "1", "active": "true"}):
        assert target._account(unknown).active is None
    assert Users().client(Resource("user", "/users/{id}"))._account({"id": "1"}).active is None


async def test_an_update_answering_nothing_keeps_the_account_or_the_fields_sent() -> None:
    server = Users()
    quiet = Resource("user", "/users/{id}")
    assert await server.client(quiet).update(ACCOUNT, {"mail": "q@acme.com"}, CONTEXT) == ACCOUNT

    maybe = Resource("user", "/users/{id}", answer="maybe")
    updated = await Users(echo=False).client(maybe).update(ACCOUNT, {"mail": "q@acme.com"}, CONTEXT)
    assert updated.id == "a/b" and updated.fields == {"id": "a/b", "mail": "q@acme.com"}


async def test_a_gone_account_is_fine_to_deactivate_and_delete_but_not_to_update() -> None:
    target = Users().client(USERS)
    gone = RemoteAccount(id="zz")

    await target.deactivate(gone, CONTEXT)
    await target.delete(gone, CONTEXT)
    with pytest.raises(PermanentError, match="no longer exists") as caught:
        await target.reactivate(gone, CONTEXT)
    assert caught.value.status == 404


async def test_delete_as_declared_deletes_deactivates_or_refuses() -> None:
    server = Users()
    await server.client(USERS).delete(ACCOUNT, CONTEXT)
    assert server.users == {}

    server = Users()
    await server.client(
        Resource("user", "/users/{id}", status=USERS.status, delete="deactivate")
    ).delete(ACCOUNT, CONTEXT)
    assert server.users["a/b"]["active"] is False

    refusing = Resource("employee", "/users/{id}", delete=None, no_delete="set deprovision.action")
    with pytest.raises(PermanentError, match="Acme's API cannot delete employees; set deprov"):
        await Users().client(refusing).delete(ACCOUNT, CONTEXT)


async def test_a_key_the_resource_cannot_look_up_is_permanent() -> None:
    target = Users().client(USERS)
    assert target._lookup("email") == "mail"
    with pytest.raises(PermanentError, match="Acme cannot look users up by 'userName'"):
        target._lookup("userName")


async def test_read_and_record_say_what_is_missing() -> None:
    server = Users(envelope=False)
    target = server.client(USERS)

    assert await target._read("nobody") is None
    with pytest.raises(PermanentError, match="Acme answered 200 without a JSON data member"):
        await target._read("a/b")
    sent = {"id": "a/b", "mail": "y@acme.com"}
    assert target._record(httpx.Response(200), sent=sent) == sent
    with pytest.raises(PermanentError, match="without a JSON body"):
        target._record(httpx.Response(200, text="<html>"))
    with pytest.raises(PermanentError, match="Acme answered without the user's id"):
        target._record(httpx.Response(200, json={"data": {"mail": "y@acme.com"}}))


async def test_matching_compares_case_insensitively_from_a_list_or_a_stream() -> None:
    rows = [{"mail": "Ada@Acme.com "}, {"mail": "grace@acme.com"}, {"mail": None}]

    async def stream() -> Any:
        for row in rows:
            yield row

    assert await matching(rows, "mail", "ada@acme.com") == rows[:1]
    assert await matching(stream(), "mail", " ADA@ACME.COM") == rows[:1]
    assert same(rows[2], "mail", "")  # a missing value reads as empty


async def test_read_of_another_resource_uses_its_path_query_and_envelope() -> None:
    server = Users(envelope=False)
    target = server.client(USERS)
    teams = Resource("team", "/users/{id}", params={"fields": "id,name"})

    assert await target._read("a/b", teams) == {"id": "a/b", "active": True}
    assert server.requests[-1].url.params["fields"] == "id,name"
    assert await target._read("nobody", teams) is None
    with pytest.raises(PermanentError, match="Acme answered without the team's name"):
        await target._read("a/b", Resource("team", "/users/{id}", id_field="name"))


async def test_matching_accounts_compare_the_declared_lookup_field() -> None:
    target = Users().client(USERS)

    async def rows() -> Any:
        yield {"id": "1", "mail": "Ada@Acme.com", "active": True}
        yield {"id": "2", "mail": "grace@acme.com"}

    found = await target._matching(rows(), "email", "ada@acme.com")
    assert [(account.id, account.active) for account in found] == [("1", True)]
    with pytest.raises(PermanentError, match="cannot look users up by 'userName'"):
        await target._matching(rows(), "userName", "ada")


def test_lookup_keys_default_to_the_resource_lookups_unless_declared() -> None:
    from provisioning.connectors.bamboohr import BambooHrConnector
    from provisioning.connectors.lucca import LuccaConnector
    from provisioning.connectors.talenthr import TalentHrConnector
    from provisioning.connectors.tribalhabits import TribalHabitsConnector

    assert BambooHrConnector.lookup_keys == ("email", "employeeNumber")
    assert LuccaConnector.lookup_keys == ("email", "userName", "employeeNumber")
    assert TalentHrConnector.lookup_keys == ("email",)
    assert "externalId" in TribalHabitsConnector.lookup_keys  # its own: the username keys


#: A contract's end as the status (Lucca's ``dtContractEnd``), written in the vendor's form.
CONTRACTS = Resource(
    noun="user",
    item="/users/{id}",
    envelope=("data",),
    forms={"end": day_in("%Y-%m-%dT00:00:00")},
    ends="end",
)
TODAY = date(2026, 3, 10)


def _contracts(server: Users) -> "Target":
    target = server.client(CONTRACTS)
    target._today = lambda: TODAY
    return target


async def test_an_end_date_resource_deactivates_by_writing_today_and_reactivates_by_clearing() -> (
    None
):
    server = Users()
    target = _contracts(server)
    await target.deactivate(ACCOUNT, CONTEXT)
    assert server.users["a/b"]["end"] == "2026-03-10T00:00:00"
    await target.reactivate(ACCOUNT, CONTEXT)
    assert server.users["a/b"]["end"] is None


def test_an_account_is_active_until_its_end_date_has_come() -> None:
    target = _contracts(Users())
    assert target._account({"id": "1"}).active is True
    assert target._account({"id": "1", "end": "2026-03-11T00:00:00"}).active is True
    assert target._account({"id": "1", "end": "2026-03-10T00:00:00"}).active is False
    assert target._account({"id": "1", "end": "2025-12-31"}).active is False
    with pytest.raises(PermanentError, match="Acme answered a end that is not an ISO 8601 date"):
        target._account({"id": "1", "end": "10/03/2026"})


async def test_an_update_sends_the_required_fields_the_payload_lacks_as_the_account_has_them() -> (
    None
):
    """TalentHR's PUT requires first name, last name and email whatever it changes [V]."""
    server = Users()
    server.users["a/b"].update({"first": "Ada", "mail": "ada@acme.com"})
    target = server.client(
        Resource("user", "/users/{id}", envelope=("data",), requires=("first", "mail"))
    )
    await target.update(ACCOUNT, {"mail": "lovelace@acme.com", "title": "CTO"}, CONTEXT)
    [read, put] = server.requests
    assert read.method == "GET"
    assert json.loads(put.content) == {"mail": "lovelace@acme.com", "title": "CTO", "first": "Ada"}

    await target.update(ACCOUNT, {"first": "A", "mail": "a@acme.com"}, CONTEXT)
    assert [r.method for r in server.requests[2:]] == ["PUT"]  # nothing to read


async def test_an_update_needing_a_read_of_a_gone_account_says_it_is_gone() -> None:
    target = Users().client(Resource("user", "/users/{id}", requires=("first",)))
    with pytest.raises(PermanentError, match="no longer exists") as caught:
        await target.update(RemoteAccount(id="zz"), {"mail": "x@acme.com"}, CONTEXT)
    assert caught.value.status == 404
