"""The Taleez source, against its contract fake (docs/connectors/taleez.md).

A candidate has no status: "hired" is the step of one of their applications, whose label
each company names (target-apis.md §9); the webhook body is the assumed contract of §5.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.config import TargetConnection
from provisioning.connectors import ConnectorSetup
from provisioning.connectors.taleez import TaleezSource
from provisioning.errors import AuthError, PermanentError, RateLimited
from provisioning.targets import build_client
from tests.fakes.taleez import API_KEY, TaleezFake, hired_event

BASE_URL = "http://taleez.test/0"


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALEEZ_KEY", API_KEY)
    monkeypatch.setenv("WRONG_TALEEZ_KEY", "not-the-key")


def connection(key: str = "${TALEEZ_KEY}") -> TargetConnection:
    auth = {"type": "api_key", "key": key, "header": "x-taleez-api-secret"}
    return TargetConnection(type="taleez", direction="source", base_url=BASE_URL, auth=auth)


@pytest.fixture
def fake() -> TaleezFake:
    fake = TaleezFake()
    fake.add_job(1, "Account manager")
    fake.add_job(2, "Support engineer")
    return fake


@pytest.fixture
async def http(fake: TaleezFake) -> AsyncIterator[httpx.AsyncClient]:
    client = build_client(connection(), transport=httpx.ASGITransport(app=fake.app))
    yield client
    await client.aclose()


def source(http: httpx.AsyncClient, **options: Any) -> TaleezSource:
    return TaleezSource(ConnectorSetup("taleez", BASE_URL, http, options))


async def test_a_hired_candidate_is_read_with_the_events_hints(
    fake: TaleezFake, http: httpx.AsyncClient
) -> None:
    ada = fake.add_candidate("Ada", "Lovelace", "ada@mail.test")
    fake.apply(ada, 2, "Entretien")
    fake.hire(ada, 1)
    hints = {"unit": {"publicName": "Acme SAS"}, "startDate": "2027-01-04"}
    record = await source(http).read_person(str(ada), hints)
    assert record["id"] == str(ada)
    assert (record["firstName"], record["lastName"], record["mail"]) == (
        "Ada",
        "Lovelace",
        "ada@mail.test",
    )
    assert record["hired"] == {"jobId": 1, "step": "Embauché"}
    assert record["unit"] == {"publicName": "Acme SAS"} and record["startDate"] == "2027-01-04"


async def test_the_hired_step_is_the_companys_own_label(
    fake: TaleezFake, http: httpx.AsyncClient
) -> None:
    ada = fake.add_candidate("Ada", "Lovelace", "ada@mail.test")
    fake.hire(ada, 1, step="Recruté")
    with pytest.raises(PermanentError, match=r"no application at a hired step \(Embauché, Hired\)"):
        await source(http).read_person(str(ada), {})
    record = await source(http, hired_steps=["recruté"]).read_person(str(ada), {})
    assert record["hired"]["step"] == "Recruté"


async def test_a_rejected_application_at_the_hired_step_is_no_hire(
    fake: TaleezFake, http: httpx.AsyncClient
) -> None:
    ada = fake.add_candidate("Ada", "Lovelace", "ada@mail.test")
    fake.hire(ada, 1)
    fake.applications[ada][0]["rejected"] = True
    with pytest.raises(PermanentError, match="no application at a hired step"):
        await source(http).read_person(str(ada), {})


async def test_the_events_job_is_preferred_when_two_applications_are_hired(
    fake: TaleezFake, http: httpx.AsyncClient
) -> None:
    ada = fake.add_candidate("Ada", "Lovelace", "ada@mail.test")
    fake.hire(ada, 1)
    fake.hire(ada, 2)
    record = await source(http).read_person(str(ada), {"job": {"id": 2}})
    assert record["hired"]["jobId"] == 2


async def test_an_unknown_candidate_is_a_plain_permanent_error(http: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentError, match="Taleez has no candidate 99"):
        await source(http).read_person("99", {})


@pytest.mark.parametrize("person_id", ["1/../../jobs", "\u00b2", "\u0661\u0662", "9" * 30, "0"])
async def test_an_id_that_is_no_candidate_id_never_reaches_the_url(
    fake: TaleezFake, http: httpx.AsyncClient, person_id: str
) -> None:
    # Unicode digits are digits to str.isdigit(), not to Taleez; past int64 is no id.
    with pytest.raises(PermanentError, match="not a Taleez candidate id"):
        await source(http).read_person(person_id, {})
    assert fake.requests == []


async def test_a_throttled_read_says_when_to_ask_again(
    fake: TaleezFake, http: httpx.AsyncClient
) -> None:
    ada = fake.add_candidate("Ada", "Lovelace", "ada@mail.test")
    fake.hire(ada, 1)
    fake.throttle(1)
    with pytest.raises(RateLimited) as raised:
        await source(http).read_person(str(ada), {})
    assert raised.value.retry_after == 1


async def test_the_fake_throttles_past_100_requests_a_minute(
    fake: TaleezFake, http: httpx.AsyncClient
) -> None:
    """[V] Taleez OpenAPI v0.4.0: "Request limit rate: 100 requests/minute"."""
    now = [0.0]
    fake.clock = lambda: now[0]
    for _ in range(100):
        await source(http).check()
    with pytest.raises(RateLimited):
        await source(http).check()
    now[0] = 61.0
    await source(http).check()


async def test_a_wrong_key_is_an_auth_error(fake: TaleezFake) -> None:
    wrong = connection("${WRONG_TALEEZ_KEY}")
    client = build_client(wrong, transport=httpx.ASGITransport(app=fake.app))
    with pytest.raises(AuthError):
        await source(client).check()
    await client.aclose()


async def test_a_full_read_says_taleez_is_read_one_candidate_at_a_time(
    http: httpx.AsyncClient,
) -> None:
    with pytest.raises(PermanentError, match="scimgw push taleez"):
        await source(http).read_page(None, None)


# -- the webhook body (the assumed contract of target-apis.md §5) ----------------------


def test_a_hire_event_names_the_candidate_the_job_and_keeps_only_hints() -> None:
    body = hired_event(123, 45, job_label="Sales", unit="Acme SAS", department="Sales")
    body["candidate"] |= {"firstName": "Ada", "mail": "ada@mail.test"}
    body["startDate"] = "2027-01-04"
    event = TaleezSource.hook_event(body)
    assert event is not None
    assert (event.subject, event.job) == ("123", "45")
    assert event.hints == {
        "job": {"id": 45, "label": "Sales"},
        "unit": {"id": 7, "publicName": "Acme SAS"},
        "department": {"name": "Sales"},
        "startDate": "2027-01-04",
    }


def test_another_event_is_ignored() -> None:
    assert TaleezSource.hook_event({"event": "candidate.created", "candidate": {"id": 1}}) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"event": "candidate.hired"}, "candidate: Field required"),
        ({"event": "candidate.hired", "candidate": {"id": "x"}}, "candidate.id: Input should be"),
        ({"event": "candidate.hired", "candidate": {"id": 1}, "startDate": "soon"}, "startDate"),
        ([1, 2], "body: Input should be"),
    ],
)
def test_a_malformed_event_says_what_is_wrong_without_its_values(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        TaleezSource.hook_event(body)
    assert "soon" not in str(raised.value)


def test_an_id_past_int64_is_refused() -> None:
    """[V OpenAPI v0.4.0] candidate ids are int64: a longer one is no candidate."""
    with pytest.raises(ValueError, match="candidate.id: Input should be less than or equal"):
        TaleezSource.hook_event({"event": "candidate.hired", "candidate": {"id": 10**30}})
