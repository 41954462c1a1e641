"""The TalentLMS (API v1) connector against its contract fake, and the fake's own rules.

The fake's rules are pinned first (it must refuse what the vendor refuses: a wrong key, a
password in basic auth, JSON bodies, duplicate email or login, weak passwords, a 201st call
in 5 seconds); then the connector's behaviour and the typed errors it raises; then a few
flows through the whole engine (matching an existing account, a custom field from HR).
Facts: target-apis.md §2a; seed requirements S2.1, S2.3, S2.4.
"""

import base64
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import yaml
from sqlalchemy.engine import Engine

from gateway.config import TargetConnection
from gateway.config.file import parse_config
from gateway.store.tables import AccountLink, AuditEntry, Delivery, OutboxEvent
from provisioning.connectors.base import (
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
    TargetConnector,
)
from provisioning.connectors.talentlms import (
    DEFAULT_FIELD_MAP,
    TalentLmsConnector,
    read_talentlms_error,
)
from provisioning.errors import (
    AuthError,
    ConflictError,
    MappingError,
    PermanentError,
    RateLimited,
    TargetConfigError,
)
from provisioning.targets import build_targets
from provisioning.targets.client import build_client
from tests.fakes.talentlms import (
    DUPLICATE_EMAIL,
    DUPLICATE_LOGIN,
    INVALID_ARGUMENTS,
    INVALID_KEY,
    STRONG,
    WEAK_PASSWORD,
    TalentLmsFake,
)
from tests.provisioning.harness import Harness, config_with

API_KEY = "tlms-key-9c4e1a"
HOST = "http://acme.talentlms.test"
BASE = f"{HOST}/api/v1"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
CONTEXT = DeliveryContext(
    tenant="acme",
    connection="lms",
    resource_type="User",
    resource_id="local-1",
    event_id=1,
    action="create",
)
ADA = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.com", "login": "ada"}
PORTAL_FIELDS = (("hireDate", "date"), ("city", "text"), ("Department", "text"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> TalentLmsFake:
    return TalentLmsFake(
        API_KEY, custom_fields=PORTAL_FIELDS, branches={1: "acme", 3: "academy"}, clock=clock
    )


Make = Callable[..., TalentLmsConnector]


@pytest.fixture
async def make(fake: TalentLmsFake, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Make]:
    """Builds connectors whose HTTP client is the engine's own (basic auth, logging)."""
    clients: list[httpx.AsyncClient] = []

    def build(
        key: str = API_KEY, now: Callable[[], float] = time.time, **options: Any
    ) -> TalentLmsConnector:
        monkeypatch.setenv("TLMS_KEY", key)
        settings = TargetConnection.model_validate(
            {
                "type": "talentlms",
                "base_url": BASE,
                "auth": {"type": "basic", "username": "${TLMS_KEY}"},
                "options": options,
            }
        )
        http = build_client(settings, transport=httpx.ASGITransport(app=fake.app))
        clients.append(http)
        return TalentLmsConnector(ConnectorSetup("lms", BASE, http, options), now=now)

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
async def raw(fake: TalentLmsFake) -> AsyncIterator[httpx.AsyncClient]:
    """A plain client with the right key, to probe the fake itself."""
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, auth=(API_KEY, "")) as http:
        yield http


def _signup_form(**changes: str) -> dict[str, str]:
    return {**ADA, "password": "Str0ngEnough", **changes}


# -- the fake refuses what TalentLMS refuses ----------------------------------------------


async def test_fake_answers_a_wrong_key_401_with_the_v1_error_body(fake: TalentLmsFake) -> None:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, auth=("nope", "")) as http:
        response = await http.get(f"{BASE}/users")
    assert response.status_code == 401
    assert response.json() == {"error": {"type": "invalid_request_error", "message": INVALID_KEY}}


async def test_fake_wants_the_key_as_username_with_an_empty_password(fake: TalentLmsFake) -> None:
    """The vendor documents ``key:`` (CURLOPT_USERPWD = key.':'); a password is not the scheme."""
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, auth=(API_KEY, "x")) as http:
        assert (await http.get(f"{BASE}/users")).status_code == 401
    async with httpx.AsyncClient(transport=transport) as http:
        assert (await http.get(f"{BASE}/users")).status_code == 401


async def test_fake_refuses_a_json_signup(raw: httpx.AsyncClient, fake: TalentLmsFake) -> None:
    response = await raw.post("/usersignup", json=_signup_form())
    assert response.status_code == 400
    assert response.json()["error"]["message"] == INVALID_ARGUMENTS
    assert fake.users == {}


async def test_fake_keeps_email_and_login_unique_case_insensitively(
    raw: httpx.AsyncClient,
) -> None:
    assert (await raw.post("/usersignup", data=_signup_form())).status_code == 200
    same_email = await raw.post("/usersignup", data=_signup_form(email="ADA@acme.com", login="a2"))
    same_login = await raw.post("/usersignup", data=_signup_form(email="a2@acme.com", login="ADA"))
    assert (same_email.status_code, same_email.json()["error"]["message"]) == (400, DUPLICATE_EMAIL)
    assert (same_login.status_code, same_login.json()["error"]["message"]) == (400, DUPLICATE_LOGIN)


async def test_fake_refuses_a_weak_password_with_the_documented_message(
    raw: httpx.AsyncClient,
) -> None:
    response = await raw.post("/usersignup", data=_signup_form(password="alllowercase1"))
    assert response.json()["error"]["message"] == WEAK_PASSWORD


async def test_fake_reads_percent_encoded_path_arguments(raw: httpx.AsyncClient) -> None:
    await raw.post("/usersignup", data=_signup_form(email="ada+lms@acme.com"))
    response = await raw.get("/users/email:ada%2Blms@acme.com")
    assert response.json()["email"] == "ada+lms@acme.com"
    assert "password" not in response.json()


async def test_fake_throttles_the_201st_call_in_five_seconds(
    raw: httpx.AsyncClient, clock: Clock
) -> None:
    """TalentLMS: "200 API calls per 5 seconds" (help centre)."""
    for _ in range(200):
        clock.now += 0.01
        assert (await raw.get("/users")).status_code == 200
    throttled = await raw.get("/users")
    assert throttled.status_code == 429
    assert "Retry-After" not in throttled.headers  # v1 sends no rate-limit headers [I]
    clock.now += 4
    assert (await raw.get("/users")).status_code == 200


async def test_fake_reports_and_enforces_the_plans_quota_at_ratelimit() -> None:
    """§9 [V]: a plan quota on top of the 5-second window, reported by ``/ratelimit``."""
    wall = Clock()
    fake = TalentLmsFake(API_KEY, quota=2, wall=wall)
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, auth=(API_KEY, "")) as http:
        for _ in range(2):
            assert (await http.get("/users")).status_code == 200
        assert (await http.get("/users")).status_code == 429
        quota = (await http.get("/ratelimit")).json()
        assert quota["limit"] == "2" and quota["remaining"] == "0"
        assert quota["reset"] == str(int(wall.now) + 3600)
        wall.now += 3600
        assert (await http.get("/users")).status_code == 200
        assert (await http.get("/ratelimit")).json()["remaining"] == "1"


# -- the connector ------------------------------------------------------------------------


def test_the_documented_configuration_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALENTLMS_API_KEY", API_KEY)
    text = (Path(__file__).parents[3] / "docs/connectors/talentlms.md").read_text()
    example = yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))  # type: ignore[union-attr]
    [target] = build_targets(parse_config(example), "sqlite")
    assert target.connector.options.custom_fields["hireDate"] == "date"
    assert "hireDate" in target.field_map.fields


def test_connector_is_a_target_connector_looking_up_email_and_login(make: Make) -> None:
    assert isinstance(make(), TargetConnector)
    assert TalentLmsConnector.lookup_keys == ("email", "userName")
    assert set(DEFAULT_FIELD_MAP) == {"first_name", "last_name", "email", "login", "language"}


def test_options_refuse_unknown_settings_and_field_types(make: Make) -> None:
    with pytest.raises(pydantic.ValidationError):
        make(branch="academy")
    with pytest.raises(pydantic.ValidationError):
        make(custom_fields={"hireDate": "datetime"})


async def test_check_accepts_the_key_and_resolves_custom_fields(
    make: Make, fake: TalentLmsFake
) -> None:
    await make(custom_fields={"hireDate": "date"}, branch_id=3).check()
    assert fake.count("getcustomregistrationfields") == 1


async def test_check_with_a_wrong_key_is_an_auth_error_with_the_vendor_message(
    make: Make,
) -> None:
    with pytest.raises(AuthError, match=INVALID_KEY):
        await make(key="tlms-wrong").check()


async def test_check_when_the_api_is_disabled_is_an_auth_error(
    make: Make, fake: TalentLmsFake
) -> None:
    fake.api_enabled = False
    with pytest.raises(AuthError) as caught:
        await make().check()
    assert caught.value.status == 403


async def test_check_names_a_branch_the_portal_lacks(make: Make) -> None:
    with pytest.raises(TargetConfigError, match="no branch with id 9"):
        await make(branch_id=9).check()


@pytest.mark.parametrize(
    ("configured", "problem"),
    [
        ({"hiredate": "date"}, "no custom user field named 'hiredate'"),
        ({"city": "date"}, "'city' is of type 'text', not 'date'"),
    ],
)
async def test_check_names_a_custom_field_missing_by_exact_name_or_type(
    make: Make, configured: dict[str, str], problem: str
) -> None:
    """S2.3: custom fields match by exact, case-sensitive name *and* type."""
    with pytest.raises(TargetConfigError, match=problem):
        await make(custom_fields=configured).check()


async def test_create_signs_up_with_a_fresh_strong_password_in_the_branch(
    make: Make, fake: TalentLmsFake
) -> None:
    connector = make(branch_id=3)
    ada = await connector.create(ADA, CONTEXT)
    bob = await connector.create({**ADA, "email": "bob@acme.com", "login": "bob"}, CONTEXT)
    user = fake.users[int(ada.id)]
    assert (user.login, user.first_name, user.branches, user.status) == (
        "ada",
        "Ada",
        {3},
        "active",
    )
    assert ada.active is True and ada.fields["email"] == "ada@acme.com"
    ada_password, bob_password = fake.secrets[1:]
    assert ada_password != bob_password
    assert all(rule.search(ada_password) for rule in STRONG) and len(ada_password) >= 20
    assert "login_key" not in ada.fields and "login_key" not in bob.fields
    assert ada_password not in repr(ada) and ada_password not in repr(bob)


async def test_create_sends_fields_signup_lacks_in_one_edituser(
    make: Make, fake: TalentLmsFake
) -> None:
    account = await make().create({**ADA, "language": "fr", "bio": "Analyst"}, CONTEXT)
    user = fake.users[int(account.id)]
    assert (user.language, user.bio) == ("fr", "Analyst")
    assert fake.count("edituser") == 1


@pytest.mark.parametrize(
    ("taken", "message"),
    [({"login": "someone"}, DUPLICATE_EMAIL), ({"email": "x@acme.com"}, DUPLICATE_LOGIN)],
)
async def test_create_clashing_with_an_existing_user_is_a_conflict_with_the_vendor_message(
    make: Make, fake: TalentLmsFake, taken: dict[str, str], message: str
) -> None:
    fake.add_user(**{**ADA, **taken})
    with pytest.raises(ConflictError, match=message):
        await make().create(ADA, CONTEXT)


async def test_create_without_a_last_name_fails_mapping_before_any_call(
    make: Make, fake: TalentLmsFake
) -> None:
    with pytest.raises(MappingError, match="no value for last_name"):
        await make().create({k: v for k, v in ADA.items() if k != "last_name"}, CONTEXT)
    assert fake.count("usersignup") == 0


@pytest.mark.parametrize(
    ("field", "problem"),
    [("password", "the connector generates it"), ("shoe_size", "no field shoe_size")],
)
async def test_a_field_talentlms_does_not_have_is_a_mapping_error(
    make: Make, field: str, problem: str
) -> None:
    with pytest.raises(MappingError, match=problem):
        await make().create({**ADA, field: "x"}, CONTEXT)


async def test_custom_fields_go_under_their_portal_keys_resolved_once(
    make: Make, fake: TalentLmsFake
) -> None:
    connector = make(custom_fields={"hireDate": "date", "Department": "text"})
    ada = await connector.create({**ADA, "hireDate": "31/01/2024"}, CONTEXT)
    await connector.update(ada, {"Department": "R&D, Paris"}, CONTEXT)
    assert fake.users[int(ada.id)].custom == {
        "custom_field_1": "31/01/2024",
        "custom_field_3": "R&D, Paris",
    }
    assert fake.count("getcustomregistrationfields") == 1


async def test_a_custom_field_created_later_heals_the_retry(
    make: Make, fake: TalentLmsFake
) -> None:
    """Like S1.5: a field the portal lacks is a retryable configuration error, not a crash."""
    connector = make(custom_fields={"jobTitle": "text"})
    with pytest.raises(TargetConfigError, match="'jobTitle'"):
        await connector.create({**ADA, "jobTitle": "Engineer"}, CONTEXT)
    assert fake.count("usersignup") == 0
    fake.custom_fields.append(("custom_field_4", "jobTitle", "text"))
    account = await connector.create({**ADA, "jobTitle": "Engineer"}, CONTEXT)
    assert fake.users[int(account.id)].custom == {"custom_field_4": "Engineer"}


async def test_find_by_email_or_login_is_case_insensitive(make: Make, fake: TalentLmsFake) -> None:
    user = fake.add_user(**ADA)
    connector = make()
    [by_email] = await connector.find("email", "ADA@ACME.COM")
    [by_login] = await connector.find("userName", "Ada")
    assert by_email.id == by_login.id == str(user.id)
    assert await connector.find("email", "nobody@acme.com") == []
    with pytest.raises(PermanentError):
        await connector.find("employeeNumber", "42")


async def test_the_profile_reads_every_user_from_the_unpaged_list(
    make: Make, fake: TalentLmsFake
) -> None:
    """v1's ``GET /users`` answers every user at once: the profile declares no paging."""
    for n in range(3):
        fake.add_user(**{**ADA, "email": f"p{n}@acme.com", "login": f"p{n}"})
    users = [user async for user in make()._api.items("/users")]
    assert sorted(user["email"] for user in users) == ["p0@acme.com", "p1@acme.com", "p2@acme.com"]
    assert fake.count("users") == 1


async def test_update_edits_the_user_and_leaves_signup_only_fields_out(
    make: Make, fake: TalentLmsFake
) -> None:
    """edituser does not take ``language`` (the fake refuses unknown parameters)."""
    connector = make()
    account = await connector.create({**ADA, "language": "en"}, CONTEXT)
    updated = await connector.update(
        account, {**ADA, "first_name": "Augusta", "language": "fr"}, CONTEXT
    )
    user = fake.users[int(account.id)]
    assert (user.first_name, user.language) == ("Augusta", "en")
    assert updated.id == account.id


async def test_update_to_an_email_someone_else_has_is_a_conflict(
    make: Make, fake: TalentLmsFake
) -> None:
    fake.add_user(**{**ADA, "email": "taken@acme.com", "login": "other"})
    account = await make().create(ADA, CONTEXT)
    with pytest.raises(ConflictError, match=DUPLICATE_EMAIL):
        await make().update(account, {"email": "taken@acme.com"}, CONTEXT)


async def test_update_of_a_user_gone_from_the_portal_says_so(make: Make) -> None:
    with pytest.raises(PermanentError, match="no longer exists") as caught:
        await make().update(RemoteAccount(id="999"), {"first_name": "Ada"}, CONTEXT)
    assert caught.value.status == 404


async def test_update_adds_a_found_account_missing_from_the_branch(
    make: Make, fake: TalentLmsFake
) -> None:
    """A signup whose answer was lost is found again and must still join the branch."""
    user = fake.add_user(**ADA)
    connector = make(branch_id=3)
    [found] = await connector.find("email", "ada@acme.com")
    await connector.update(found, ADA, CONTEXT)
    [found_again] = await connector.find("email", "ada@acme.com")
    await connector.update(found_again, ADA, CONTEXT)
    assert user.branches == {3}
    assert fake.count("addusertobranch") == 1


async def test_deactivate_and_reactivate_set_the_status(make: Make, fake: TalentLmsFake) -> None:
    connector = make()
    account = await connector.create(ADA, CONTEXT)
    await connector.deactivate(account, CONTEXT)
    assert fake.users[int(account.id)].status == "inactive"
    await connector.deactivate(account, CONTEXT)  # idempotent
    await connector.reactivate(account, CONTEXT)
    assert fake.users[int(account.id)].status == "active"


async def test_deactivating_a_deleted_user_succeeds_but_reactivating_it_fails(
    make: Make,
) -> None:
    connector, gone = make(), RemoteAccount(id="999")
    await connector.deactivate(gone, CONTEXT)
    with pytest.raises(PermanentError, match="no longer exists"):
        await connector.reactivate(gone, CONTEXT)


@pytest.mark.parametrize(("permanently", "flag"), [(False, "no"), (True, "yes")])
async def test_delete_follows_the_permanent_option_and_tolerates_a_missing_user(
    make: Make, fake: TalentLmsFake, permanently: bool, flag: str
) -> None:
    connector = make(delete_permanently=permanently)
    account = await connector.create(ADA, CONTEXT)
    await connector.delete(account, CONTEXT)
    await connector.delete(account, CONTEXT)
    assert fake.deleted == [(int(account.id), flag)]


async def test_a_throttled_call_is_rate_limited_with_the_retry_after(
    make: Make, fake: TalentLmsFake
) -> None:
    fake.fail_next(429, headers={"Retry-After": "4"})
    with pytest.raises(RateLimited) as caught:
        await make().create(ADA, CONTEXT)
    assert caught.value.retry_after == 4.0


async def test_a_throttle_with_quota_left_waits_out_the_five_second_window(
    make: Make, fake: TalentLmsFake
) -> None:
    """No Retry-After in v1: ``/ratelimit`` shows quota left, so only the window was hit."""
    fake.fail_next(429)
    with pytest.raises(RateLimited) as caught:
        await make().create(ADA, CONTEXT)
    assert caught.value.retry_after == 5.0
    assert "200 calls per 5 seconds" in caught.value.message
    assert fake.count("ratelimit") == 1


async def test_a_spent_quota_waits_until_its_reset(clock: Clock) -> None:
    wall = Clock()
    fake = TalentLmsFake(API_KEY, quota=1, wall=wall, clock=clock)
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, auth=(API_KEY, "")) as http:
        connector = TalentLmsConnector(ConnectorSetup("lms", BASE, http), now=wall)
        await connector.find("email", "ada@acme.com")  # spends the quota
        wall.now += 600
        with pytest.raises(RateLimited) as caught:
            await connector.create(ADA, CONTEXT)
    assert caught.value.retry_after == 3000.0  # the hour began 600 s ago
    assert "quota is used up until" in caught.value.message


async def test_an_unreadable_ratelimit_falls_back_to_the_window(
    make: Make, fake: TalentLmsFake
) -> None:
    fake.fail_next(429)
    fake.fail_next(500)  # /ratelimit itself fails
    with pytest.raises(RateLimited) as caught:
        await make().create(ADA, CONTEXT)
    assert caught.value.retry_after == 5.0


def test_error_reader_takes_the_v1_message_or_falls_back() -> None:
    body = {"error": {"type": "invalid_request_error", "message": "Invalid arguments provided"}}
    assert read_talentlms_error(httpx.Response(400, json=body)) == "Invalid arguments provided"
    assert read_talentlms_error(httpx.Response(502, text="Bad gateway")) == "Bad gateway"


async def test_the_request_carries_the_key_as_basic_username_only(make: Make) -> None:
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    connector = make()
    connector._api.http.event_hooks["request"].append(record)
    await connector.find("email", "ada@acme.com")
    expected = base64.b64encode(f"{API_KEY}:".encode()).decode()
    assert seen[0].headers["Authorization"] == f"Basic {expected}"
    assert seen[0].url.path == "/api/v1/users/email:ada@acme.com"


# -- through the engine --------------------------------------------------------------------


def _lms(**settings: Any) -> dict[str, Any]:
    return {
        "type": "talentlms",
        "base_url": BASE,
        "auth": {"type": "basic", "username": "${TLMS_KEY}"},
        **settings,
    }


@pytest.fixture
async def engine_with(
    engine: Engine, fake: TalentLmsFake, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Harness]]:
    monkeypatch.setenv("TLMS_KEY", API_KEY)
    harnesses: list[Harness] = []

    def build(**settings: Any) -> Harness:  # one per test: the harness creates a token
        harness = Harness(
            engine, config_with("lms", _lms(**settings)), httpx.ASGITransport(app=fake.app)
        )
        harnesses.append(harness)
        return harness

    yield build
    for harness in harnesses:
        await harness.aclose()


async def test_an_existing_account_is_a_conflict_without_adoption(
    engine_with: Callable[..., Harness], fake: TalentLmsFake
) -> None:
    fake.add_user(**ADA)
    harness = engine_with()
    user = await harness.create_user("ada")
    await harness.worker.drain()
    [event] = harness.rows(OutboxEvent, resource_id=user)
    assert event.status == "dead" and "already exists in lms" in event.last_error
    assert len(fake.users) == 1


async def test_an_existing_account_is_adopted_updated_reactivated_and_put_in_the_branch(
    engine_with: Callable[..., Harness], fake: TalentLmsFake
) -> None:
    """S2.4: an employee whose email the LMS has is updated there, not created again."""
    existing = fake.add_user(**{**ADA, "first_name": "A.", "status": "inactive"})
    harness = engine_with(matching={"adopt_existing": True}, options={"branch_id": 3})
    user = await harness.create_user("ada")
    await harness.worker.drain()
    [link] = harness.rows(AccountLink, resource_id=user)
    assert link.remote_id == str(existing.id) and link.state == "active"
    assert (existing.first_name, existing.status, existing.branches) == ("Ada", "active", {3})
    assert len(fake.users) == 1


async def test_matching_by_username_finds_the_existing_login(
    engine_with: Callable[..., Harness], fake: TalentLmsFake
) -> None:
    existing = fake.add_user(**{**ADA, "email": "old@acme.com", "login": "ada@acme.com"})
    harness = engine_with(matching={"key": "userName", "adopt_existing": True})
    user = await harness.create_user("ada")
    await harness.worker.drain()
    [link] = harness.rows(AccountLink, resource_id=user)
    assert link.remote_id == str(existing.id)
    assert existing.email == "ada@acme.com"


async def test_a_login_clash_the_email_lookup_cannot_see_dead_letters_with_the_vendor_message(
    engine_with: Callable[..., Harness], fake: TalentLmsFake
) -> None:
    """Email and login are both unique: an email match finds nothing, the signup clashes."""
    fake.add_user(**{**ADA, "email": "other@acme.com", "login": "ada@acme.com"})
    harness = engine_with()
    user = await harness.create_user("ada")
    await harness.worker.drain()
    [event] = harness.rows(OutboxEvent, resource_id=user)
    assert event.status == "dead" and DUPLICATE_LOGIN in event.last_error


async def test_an_hr_hire_date_reaches_the_portal_custom_field(
    engine_with: Callable[..., Harness], fake: TalentLmsFake
) -> None:
    """S2.3: hireDate (date) is matched by name and type and sent as ``custom_field_N``."""
    field_map = {
        **DEFAULT_FIELD_MAP,
        "hireDate": {"from": "hr:hireDate", "transform": [{"date": "%d/%m/%Y"}]},
    }
    harness = engine_with(field_map=field_map, options={"custom_fields": {"hireDate": "date"}})
    await harness.create_user("ada", schemas=[CORE, HR], **{HR: {"hireDate": "2024-01-31"}})
    await harness.worker.drain()
    user = fake.by_email("ada@acme.com")
    assert user is not None and user.custom == {"custom_field_1": "31/01/2024"}


async def test_the_generated_password_is_in_no_delivery_or_audit_row(
    engine_with: Callable[..., Harness], fake: TalentLmsFake
) -> None:
    harness = engine_with()
    user = await harness.create_user("ada")
    await harness.worker.drain()
    await harness.patch(user, "active", False)
    await harness.worker.drain()
    password = fake.secrets[1]
    rows = [*harness.rows(Delivery), *harness.rows(AuditEntry), *harness.rows(AccountLink)]
    assert rows and all(password not in repr(tuple(row)) for row in rows)
    assert fake.by_email("ada@acme.com").status == "inactive"  # type: ignore[union-attr]
