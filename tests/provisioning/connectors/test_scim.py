"""The generic SCIM 2.0 target connector, against scimgw itself as the remote server.

The remote is the gateway app (SQLite and PostgreSQL) reached through
``httpx.ASGITransport``; one test goes over a real socket. Server behaviours scimgw does
not have (ignoring a filter, throttling, no PATCH) are played by ``httpx.MockTransport``.
"""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pydantic
import pytest

from provisioning.connectors import scim_payload as payloads
from provisioning.connectors.base import (
    ConnectorSetup,
    DeliveryContext,
    GroupTarget,
    RemoteAccount,
    TargetConnector,
)
from provisioning.connectors.scim import DEFAULT_FIELD_MAP, ScimConnector, read_scim_error
from provisioning.errors import (
    AuthError,
    ConflictError,
    MappingError,
    PermanentError,
    RateLimited,
)
from provisioning.mapping import FieldMap, MappingContext

BASE = "http://remote/scim/v2"
ENTERPRISE = payloads.ENTERPRISE_USER
WORK_EMAIL = 'emails[type eq "work"].value'
CONTEXT = DeliveryContext(
    tenant="acme",
    connection="app",
    resource_type="User",
    resource_id="local-1",
    event_id=1,
    action="create",
)
ADA: dict[str, Any] = {
    "userName": "ada",
    "externalId": "hr-1",
    "active": True,
    "displayName": "Ada Lovelace",
    "name.givenName": "Ada",
    "name.familyName": "Lovelace",
    WORK_EMAIL: "ada@example.com",
    f"{ENTERPRISE}:employeeNumber": "E1",
}


@pytest.fixture
async def remote(app, token: str) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """A client for scimgw as the target, authenticated as tenant acme."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, headers=headers) as http:
        yield http


def _connector(http: httpx.AsyncClient, base: str = BASE, **options: Any) -> ScimConnector:
    return ScimConnector(ConnectorSetup(name="app", base_url=base, http=http, options=options))


async def _read(remote: httpx.AsyncClient, account: RemoteAccount) -> dict[str, Any]:
    response = await remote.get(f"{BASE}/Users/{account.id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _mock(handler: Any, **options: Any) -> ScimConnector:
    return _connector(httpx.AsyncClient(transport=httpx.MockTransport(handler)), **options)


# -- check ------------------------------------------------------------------------------


async def test_check_passes_with_a_valid_token(remote: httpx.AsyncClient) -> None:
    await _connector(remote).check()


async def test_check_with_a_bad_token_raises_auth_error(app) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": "Bearer not-a-token"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=headers) as bad:
        with pytest.raises(AuthError) as caught:
            await _connector(bad).check()
    assert caught.value.status == 401


async def test_check_of_a_url_that_is_no_scim_root_is_permanent(remote: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentError) as caught:
        await _connector(remote, base="http://remote/elsewhere").check()
    assert caught.value.status == 404


async def test_check_says_to_use_put_when_the_target_has_no_patch() -> None:
    """RFC 7643 §5: ``patch.supported`` false means PATCH requests will fail."""
    config = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]}
    config["patch"] = {"supported": False}  # type: ignore[assignment]
    connector = _mock(lambda request: httpx.Response(200, json=config))
    with pytest.raises(PermanentError, match="update_method: put"):
        await connector.check()
    await _mock(lambda request: httpx.Response(200, json=config), update_method="put").check()


# -- create and find --------------------------------------------------------------------


async def test_create_sends_a_scim_user_the_target_stores(remote: httpx.AsyncClient) -> None:
    account = await _connector(remote).create(ADA, CONTEXT)
    stored = await _read(remote, account)
    assert account.active is True
    assert stored["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert stored["emails"] == [{"value": "ada@example.com", "type": "work", "primary": True}]
    assert stored[ENTERPRISE] == {"employeeNumber": "E1"}
    assert ENTERPRISE in stored["schemas"]


async def test_find_by_user_name_ignores_case(remote: httpx.AsyncClient) -> None:
    connector = _connector(remote)
    created = await connector.create(ADA, CONTEXT)
    found = await connector.find("userName", "ADA")
    assert [account.id for account in found] == [created.id]
    assert found[0].fields["userName"] == "ada"


@pytest.mark.parametrize("email_lookup", ["work", "any"])
async def test_find_by_email(remote: httpx.AsyncClient, email_lookup: str) -> None:
    connector = _connector(remote, email_lookup=email_lookup)
    created = await connector.create(ADA, CONTEXT)
    found = await connector.find("email", "Ada@Example.com")
    assert [account.id for account in found] == [created.id]


async def test_find_by_external_id_and_employee_number(remote: httpx.AsyncClient) -> None:
    connector = _connector(remote)
    created = await connector.create(ADA, CONTEXT)
    assert [a.id for a in await connector.find("externalId", "hr-1")] == [created.id]
    assert [a.id for a in await connector.find("employeeNumber", "E1")] == [created.id]
    assert await connector.find("employeeNumber", "E2") == []


async def test_find_escapes_quotes_and_backslashes(remote: httpx.AsyncClient) -> None:
    """RFC 7644 §3.4.2.2: a comparison value is a JSON string; a raw quote would be a 400."""
    connector = _connector(remote)
    tricky = 'o"brien\\x" or userName pr'
    created = await connector.create({"userName": tricky}, CONTEXT)
    await connector.create({"userName": "someone-else"}, CONTEXT)
    assert [a.id for a in await connector.find("userName", tricky)] == [created.id]


async def test_find_drops_users_a_server_ignoring_the_filter_returns() -> None:
    """A server that ignores the filter answers with everyone: only a real match links."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["filter"])
        users = [{"id": "1", "userName": "bob"}, {"id": "2", "userName": "Ada"}]
        return httpx.Response(200, json={"totalResults": 2, "Resources": users})

    found = await _mock(handler).find("userName", "ada")
    assert [account.id for account in found] == ["2"]
    assert seen == ['userName eq "ada"']


async def test_find_by_an_unknown_key_is_permanent(remote: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentError, match="nickName"):
        await _connector(remote).find("nickName", "x")


async def test_create_twice_is_a_conflict_with_the_scim_detail(remote: httpx.AsyncClient) -> None:
    connector = _connector(remote)
    await connector.create(ADA, CONTEXT)
    with pytest.raises(ConflictError) as caught:
        await connector.create({**ADA, "userName": "ADA"}, CONTEXT)
    assert caught.value.status == 409
    assert caught.value.message.startswith("HTTP 409: uniqueness: ")


# -- update -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"patch_style": "value"}, {"update_method": "put"}],
    ids=["patch-paths", "patch-value", "put"],
)
async def test_update_changes_the_remote_user(
    remote: httpx.AsyncClient, options: dict[str, Any]
) -> None:
    connector = _connector(remote, **options)
    account = await connector.create({**ADA, "title": "Countess"}, CONTEXT)
    changes = {"name.givenName": "Augusta", WORK_EMAIL: "augusta@example.com", "title": None}
    updated = await connector.update(account, {**ADA, **changes}, CONTEXT)
    stored = await _read(remote, account)
    assert updated.id == account.id
    assert stored["name"] == {"givenName": "Augusta", "familyName": "Lovelace"}
    assert [e["value"] for e in stored["emails"]] == ["augusta@example.com"]
    assert "title" not in stored


async def test_patch_paths_keeps_the_other_emails_of_the_user(remote: httpx.AsyncClient) -> None:
    """Entra's per-path form touches only the work entry of a multi-valued attribute."""
    connector = _connector(remote)
    home = 'emails[type eq "home"].value'
    account = await connector.create({**ADA, home: "ada@home.example"}, CONTEXT)
    await connector.update(account, {WORK_EMAIL: "new@example.com"}, CONTEXT)
    stored = await _read(remote, account)
    emails = {e["type"]: e["value"] for e in stored["emails"]}
    assert emails == {"work": "new@example.com", "home": "ada@home.example"}


async def test_put_keeps_attributes_the_field_map_does_not_cover(
    remote: httpx.AsyncClient,
) -> None:
    connector = _connector(remote, update_method="put")
    account = await connector.create({**ADA, "nickName": "Ada L."}, CONTEXT)
    await connector.update(account, {"displayName": "Countess Ada"}, CONTEXT)
    stored = await _read(remote, account)
    assert (stored["nickName"], stored["displayName"]) == ("Ada L.", "Countess Ada")
    assert stored[ENTERPRISE] == {"employeeNumber": "E1"}


@pytest.mark.parametrize("method", ["patch", "put"])
async def test_update_of_an_account_gone_from_the_target_says_so(
    remote: httpx.AsyncClient, method: str
) -> None:
    connector = _connector(remote, update_method=method)
    account = await connector.create(ADA, CONTEXT)
    await connector.delete(account, CONTEXT)
    with pytest.raises(PermanentError, match="no longer exists") as caught:
        await connector.update(account, ADA, CONTEXT)
    assert caught.value.status == 404


# -- deactivate, reactivate, delete -----------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"patch_style": "value"}, {"update_method": "put"}],
    ids=["patch-paths", "patch-value", "put"],
)
async def test_deactivate_and_reactivate_flip_active(
    remote: httpx.AsyncClient, options: dict[str, Any]
) -> None:
    connector = _connector(remote, **options)
    account = await connector.create(ADA, CONTEXT)
    await connector.deactivate(account, CONTEXT)
    await connector.deactivate(account, CONTEXT)
    assert (await _read(remote, account))["active"] is False
    await connector.reactivate(account, CONTEXT)
    assert (await _read(remote, account))["active"] is True


async def test_deactivating_an_account_already_gone_succeeds(remote: httpx.AsyncClient) -> None:
    connector = _connector(remote)
    account = await connector.create(ADA, CONTEXT)
    await connector.delete(account, CONTEXT)
    await connector.deactivate(account, CONTEXT)
    with pytest.raises(PermanentError, match="no longer exists"):
        await connector.reactivate(account, CONTEXT)


async def test_deactivate_with_delete_removes_the_account(remote: httpx.AsyncClient) -> None:
    connector = _connector(remote, deactivate_with="delete")
    account = await connector.create(ADA, CONTEXT)
    await connector.deactivate(account, CONTEXT)
    assert (await remote.get(f"{BASE}/Users/{account.id}")).status_code == 404
    assert await connector.find("userName", "ada") == []


async def test_delete_then_delete_again_succeeds(remote: httpx.AsyncClient) -> None:
    connector = _connector(remote)
    account = await connector.create(ADA, CONTEXT)
    await connector.delete(account, CONTEXT)
    await connector.delete(account, CONTEXT)
    assert (await remote.get(f"{BASE}/Users/{account.id}")).status_code == 404


# -- groups -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["patch", "put"])
async def test_group_lifecycle_keeps_exactly_the_given_members(
    remote: httpx.AsyncClient, method: str
) -> None:
    connector = _connector(remote, groups=True, update_method=method)
    ada = await connector.create(ADA, CONTEXT)
    bob = await connector.create({"userName": "bob"}, CONTEXT)
    eve = await connector.create({"userName": "eve"}, CONTEXT)
    group = await connector.create_group({"displayName": "Sales"}, [ada.id, bob.id], CONTEXT)
    assert [g.id for g in await connector.find_group("SALES")] == [group.id]

    payload = {"displayName": "Sales EMEA"}
    await connector.update_group(group, payload, [bob.id, eve.id], CONTEXT)
    stored = (await remote.get(f"{BASE}/Groups/{group.id}")).json()
    assert stored["displayName"] == "Sales EMEA"
    assert {m["value"] for m in stored["members"]} == {bob.id, eve.id}

    await connector.delete_group(group, CONTEXT)
    await connector.delete_group(group, CONTEXT)
    assert await connector.find_group("Sales EMEA") == []


async def test_update_group_without_members_leaves_them(remote: httpx.AsyncClient) -> None:
    connector = _connector(remote, groups=True)
    ada = await connector.create(ADA, CONTEXT)
    group = await connector.create_group({"displayName": "Sales"}, [ada.id], CONTEXT)
    await connector.update_group(group, {"displayName": "Sales FR"}, None, CONTEXT)
    stored = (await remote.get(f"{BASE}/Groups/{group.id}")).json()
    assert [m["value"] for m in stored["members"]] == [ada.id]


def test_membership_operations_add_the_new_and_remove_the_old() -> None:
    operations = payloads.membership_operations(["a", "b"], ["b", "c", "c"])
    assert operations == [
        {"op": "add", "path": "members", "value": [{"value": "c"}]},
        {"op": "remove", "path": 'members[value eq "a"]'},
    ]
    assert payloads.membership_operations(["a"], ["a"]) == []


# -- protocol, options, HTTP details ----------------------------------------------------


async def test_connector_meets_the_target_and_group_protocols(remote: httpx.AsyncClient) -> None:
    connector = _connector(remote)
    assert isinstance(connector, TargetConnector)
    assert isinstance(connector, GroupTarget)
    assert connector.manages_groups is False
    assert _connector(remote, groups=True).manages_groups is True


def test_unknown_or_invalid_options_are_refused() -> None:
    http = httpx.AsyncClient()
    with pytest.raises(pydantic.ValidationError):
        _connector(http, update_methd="put")
    with pytest.raises(pydantic.ValidationError):
        _connector(http, deactivate_with="archive")


async def test_requests_carry_scim_media_types_and_a_patch_op() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"id": "x/1", "active": "False"})

    account = await _mock(handler).update(RemoteAccount(id="x/1"), {"active": False}, CONTEXT)
    request = sent[0]
    assert (request.method, request.url.raw_path) == ("PATCH", b"/scim/v2/Users/x%2F1")
    assert request.headers["Content-Type"] == "application/scim+json"
    assert "application/scim+json" in request.headers["Accept"]
    body = json.loads(request.content)
    assert body["schemas"] == [payloads.PATCH_OP]
    assert body["Operations"] == [{"op": "replace", "path": "active", "value": False}]
    assert account.active is False


async def test_a_patch_answered_with_204_keeps_the_account() -> None:
    account = RemoteAccount(id="1", active=True)
    updated = await _mock(lambda request: httpx.Response(204)).update(account, ADA, CONTEXT)
    assert (updated.id, updated.active) == ("1", True)


async def test_throttling_is_rate_limited_with_retry_after() -> None:
    connector = _mock(lambda request: httpx.Response(429, headers={"Retry-After": "7"}))
    with pytest.raises(RateLimited) as caught:
        await connector.find("userName", "ada")
    assert caught.value.retry_after == 7.0


def test_scim_error_bodies_read_as_scim_type_and_detail() -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "409",
        "scimType": "uniqueness",
        "detail": "userName is taken",
    }
    assert read_scim_error(httpx.Response(409, json=body)) == "uniqueness: userName is taken"
    assert read_scim_error(httpx.Response(400, json={"detail": "bad"})) == "bad"
    assert read_scim_error(httpx.Response(502, text="upstream down")) == "upstream down"


# -- payloads ---------------------------------------------------------------------------


def test_default_field_map_parses_and_sends_the_user_as_stored() -> None:
    stored = {
        "schemas": [payloads.CORE_USER, ENTERPRISE],
        "id": "local-1",
        "userName": "ada",
        "active": True,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"type": "work", "value": "ada@example.com", "primary": True}],
        ENTERPRISE: {"employeeNumber": "E1", "manager": {"value": "local-boss"}},
    }
    field_map = FieldMap.parse(dict(DEFAULT_FIELD_MAP))
    payload = field_map.apply(stored, MappingContext(manager={}, manager_remote_id="remote-9"))
    document = payloads.build(payload)
    assert field_map.needs_manager
    assert {key: document[key] for key in ("userName", "active", "name", "emails")} == {
        key: stored[key] for key in ("userName", "active", "name", "emails")
    }
    assert document[ENTERPRISE] == {"manager": {"value": "remote-9"}, "employeeNumber": "E1"}
    for path in DEFAULT_FIELD_MAP:
        payloads.parse(path)


def test_build_nests_paths_and_lists_the_extensions_used() -> None:
    custom = "urn:example:params:scim:schemas:extension:acme:2.0:User"
    document = payloads.build(
        {
            "userName": "ada",
            "name.givenName": "Ada",
            WORK_EMAIL: "ada@example.com",
            'emails[type eq "home"].value': "ada@home.example",
            f"{ENTERPRISE}:department": "R&D",
            f"{custom}:badge": "42",
            "title": None,
        },
        schemas=["urn:example:required:2.0:User"],
    )
    assert document == {
        "schemas": [
            payloads.CORE_USER,
            "urn:example:required:2.0:User",
            ENTERPRISE,
            custom,
        ],
        "userName": "ada",
        "name": {"givenName": "Ada"},
        "emails": [
            {"type": "work", "primary": True, "value": "ada@example.com"},
            {"type": "home", "value": "ada@home.example"},
        ],
        ENTERPRISE: {"department": "R&D"},
        custom: {"badge": "42"},
    }


def test_build_over_a_remote_user_rewrites_only_the_selected_entry() -> None:
    remote = {
        "schemas": [payloads.CORE_USER],
        "id": "1",
        "UserName": "ada",
        "emails": [{"type": "Work", "value": "old@example.com"}, {"type": "home", "value": "h"}],
    }
    document = payloads.build({"userName": "ada2", WORK_EMAIL: "new@example.com"}, base=remote)
    assert document["userName"] == "ada2" and "UserName" not in document
    assert document["emails"] == [
        {"type": "Work", "value": "new@example.com"},
        {"type": "home", "value": "h"},
    ]
    assert remote["emails"][0]["value"] == "old@example.com"


def test_a_null_selected_value_removes_its_entry() -> None:
    base = {"emails": [{"type": "work", "value": "a"}, {"type": "home", "value": "b"}]}
    assert payloads.build({WORK_EMAIL: None}, base=base)["emails"] == [
        {"type": "home", "value": "b"}
    ]
    assert payloads.path_operations({WORK_EMAIL: None}) == [
        {"op": "remove", "path": 'emails[type eq "work"]'}
    ]


@pytest.mark.parametrize(
    "path",
    ["emails.value", 'emails[type ne "work"].value', 'emails[type eq "work" or primary eq true]'],
)
def test_paths_that_do_not_say_which_entry_are_mapping_errors(path: str) -> None:
    with pytest.raises(MappingError):
        payloads.build({path: "x"})


def test_an_invalid_path_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="invalid SCIM path"):
        payloads.parse("emails[type")


def test_value_operations_replace_one_object_and_remove_nulls() -> None:
    operations = payloads.value_operations(
        {"name.givenName": "Ada", f"{ENTERPRISE}:employeeNumber": "E1", "title": None}
    )
    assert operations == [
        {
            "op": "replace",
            "value": {"name": {"givenName": "Ada"}, ENTERPRISE: {"employeeNumber": "E1"}},
        },
        {"op": "remove", "path": "title"},
    ]


def test_a_selected_entry_filter_takes_the_compared_value() -> None:
    """``emails[type eq "work"].value eq x`` is not RFC 7644 §3.4.2.2 grammar."""
    assert payloads.equality_filter(WORK_EMAIL, "a@b") == (
        'emails[type eq "work" and value eq "a@b"]'
    )
    assert payloads.equality_filter("userName", "José") == 'userName eq "José"'


# -- over a real socket -----------------------------------------------------------------


async def test_end_to_end_over_a_real_socket(live_server) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {live_server.token}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as http:
        connector = _connector(http, base=live_server.url)
        await connector.check()
        account = await connector.create(ADA, CONTEXT)
        assert [a.id for a in await connector.find("email", "ada@example.com")] == [account.id]
        updated = await connector.update(account, {"displayName": "Countess"}, CONTEXT)
        assert updated.fields["displayName"] == "Countess"
        await connector.deactivate(account, CONTEXT)
        assert (await connector.find("userName", "ada"))[0].active is False
        await connector.delete(account, CONTEXT)
        assert await connector.find("userName", "ada") == []
