"""Taleez (ATS) as a source: a hired candidate, read one at a time (seed S4).

A "candidate hired" webhook (or ``scimgw push taleez <id>``) names a candidate; the
candidate and their applications are then read from the API, and the one at a hired step
becomes the person applied to the store (provisioning.sources.arrivals), which fans out to
Lucca like any change. Behaviour, options, limits and what is assumed:
``docs/connectors/taleez.md``; every vendor fact is in the block below.
"""

from collections.abc import Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from gateway.config import Secret
from provisioning.connectors.base import ConnectorOptions, ConnectorSetup, SourcePage
from provisioning.connectors.inbound import InboundEvent
from provisioning.connectors.messages import ErrorBody
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.errors import PermanentError

__all__ = ["DEFAULT_READ_MAP", "HiredEvent", "TaleezOptions", "TaleezSource"]

# -- vendor facts (docs/connectors/taleez.md; [A] = assumed, to check against a sandbox) --

#: [I pipedream taleez.app.mjs] The API root; the key goes in ``x-taleez-api-secret``
#: (the connection's ``auth: {type: api_key, header: x-taleez-api-secret}``).
API_ROOT = "https://api.taleez.com/0"
#: [V OpenAPI v0.4.0] One candidate: ``{id, firstName, lastName, mail, phone, lang}``,
#: no status; 404 when there is none.
CANDIDATE_PATH = "/candidates/{id}"
#: [V target-apis §9] ``[{id, jobId, currentStepName, rejected, date}]``: "hired" is a step.
APPLICATIONS_PATH = "/candidates/{id}/applications"
#: [I] A cheap authenticated read for ``check()``: one job.
CHECK_PATH = "/jobs"
CHECK_PARAMS: Mapping[str, str] = MappingProxyType({"page": "0", "pageSize": "1"})
#: [V §9] Step labels are each company's own: these are the defaults of ``hired_steps``.
HIRED_STEPS = ("Embauché", "Hired")
#: [A] Errors: a JSON body with ``message`` (or ``error``); the OpenAPI documents none.
read_taleez_error = ErrorBody(message=(("message",), ("error",)))
#: [A §5] The webhook's event name for a hire; other events are acknowledged and ignored.
HIRED_EVENT = "candidate.hired"
#: [A] The header carrying the webhook's shared secret (never the URL: URLs are logged).
SECRET_HEADER = "X-Taleez-Webhook-Secret"

#: [V] 100 requests a minute: 429 with Retry-After (gateway/config/vendor_rates.py).
PROFILE = ApiProfile(
    vendor="Taleez",
    read_message=read_taleez_error,
    headers=MappingProxyType({"Accept": "application/json"}),
)

#: SCIM path <- field of the hire record (the candidate, plus the event's hints).
DEFAULT_READ_MAP: Mapping[str, Any] = MappingProxyType(
    {
        "userName": {"from": "mail", "required": True},
        "name.givenName": {"from": "firstName", "required": True},
        "name.familyName": {"from": "lastName", "required": True},
        'emails[type eq "home"].value': "mail",
        "title": "job.label",
        "enterprise:organization": "unit.publicName",
        "enterprise:department": "department.name",
        "hr:hireDate": "startDate",
    }
)


#: [V OpenAPI v0.4.0] Ids are int64: a bound that also keeps the recorded ids short.
MAX_ID = 2**63 - 1


class _Event(BaseModel):
    # Unknown members are the sender's business (the payload is not public): ignored.
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):  # JSON true is no id, though Python counts it as 1
        raise ValueError("an id is a number, not true or false")
    return value


#: A Taleez id: a positive int64, digits in a string accepted, true and false refused.
TaleezId = Annotated[int, BeforeValidator(_not_a_boolean), Field(ge=1, le=MAX_ID)]
OptionalId = Annotated[int | None, BeforeValidator(_not_a_boolean), Field(ge=1, le=MAX_ID)]


class EventCandidate(_Event):
    id: TaleezId


class EventJob(_Event):
    id: TaleezId
    label: str | None = Field(None, max_length=300)


class EventUnit(_Event):
    id: OptionalId = None
    publicName: str | None = Field(None, max_length=300)  # noqa: N815 - Taleez's name


class EventDepartment(_Event):
    id: OptionalId = None
    name: str | None = Field(None, max_length=300)


class HiredEvent(_Event):
    """[A §5] The "candidate hired" webhook body; ``department`` is our [A] addition."""

    event: str = Field(max_length=100)
    #: When the sender says the step changed (``date``: renamed, it would hide the type).
    sent: datetime | None = Field(None, alias="date")
    candidate: EventCandidate
    job: EventJob | None = None
    unit: EventUnit | None = None
    department: EventDepartment | None = None
    startDate: date | None = None  # noqa: N815 - Taleez's name


class TaleezOptions(ConnectorOptions):
    """The ``options:`` of a ``type: taleez`` connection."""

    #: Application step labels that mean "hired", compared case-insensitively (§9).
    hired_steps: tuple[str, ...] = Field(HIRED_STEPS, min_length=1)
    #: The shared secret the webhook sender proves; none: the webhook is off.
    webhook_secret: Secret | None = None
    #: The header carrying it.
    webhook_header: str = Field(SECRET_HEADER, min_length=1, max_length=100)


class TaleezSource:
    """Reads hired candidates from Taleez one at a time (see the module docstring)."""

    type: ClassVar[str] = "taleez"
    default_read_map: ClassVar[Mapping[str, Any]] = DEFAULT_READ_MAP
    options_model: ClassVar[Any] = TaleezOptions

    def __init__(self, setup: ConnectorSetup) -> None:
        self.options = TaleezOptions.model_validate(dict(setup.options))
        self._api = ApiClient(setup.http, setup.base_url or API_ROOT, PROFILE)

    async def check(self) -> None:
        await self._api.call("GET", CHECK_PATH, params=CHECK_PARAMS)

    async def read_page(self, since: str | None, cursor: str | None) -> SourcePage:
        """Taleez has no list of hired candidates short of reading every candidate's
        applications (two requests each, at 100 a minute): people come one at a time."""
        raise PermanentError(
            "Taleez is read one candidate at a time: its webhook does it, or "
            "`scimgw push taleez <candidate-id>`"
        )

    async def read_person(self, person_id: str, hints: Mapping[str, Any]) -> Mapping[str, Any]:
        """The candidate, their hired application and the event's hints, as one record."""
        path = CANDIDATE_PATH.format(id=_candidate_id(person_id))
        answer = await self._api.call("GET", path, missing_ok=True)
        if answer.status_code == 404:
            raise PermanentError(f"Taleez has no candidate {person_id}", status=404)
        candidate = self._api.json(answer)
        if not isinstance(candidate, dict):
            raise PermanentError("Taleez answered a candidate that is not a JSON object")
        hired = self._hired(await self._applications(path), hints, person_id)
        return {**candidate, "id": str(candidate.get("id", person_id)), **hints, "hired": hired}

    async def _applications(self, candidate_path: str) -> list[dict[str, Any]]:
        found = self._api.json(await self._api.call("GET", candidate_path + "/applications"))
        if not isinstance(found, list) or not all(isinstance(a, dict) for a in found):
            raise PermanentError("Taleez answered applications that are not a list of objects")
        return found

    def _hired(
        self, applications: list[dict[str, Any]], hints: Mapping[str, Any], person_id: str
    ) -> dict[str, Any]:
        """The application at a hired step (the event's job's first), not rejected."""
        steps = {step.casefold() for step in self.options.hired_steps}
        hired = [
            a
            for a in applications
            if str(a.get("currentStepName") or "").casefold() in steps and not a.get("rejected")
        ]
        job = (hints.get("job") or {}).get("id")
        hired.sort(key=lambda a: a.get("jobId") != job)
        if not hired:
            names = ", ".join(self.options.hired_steps)
            raise PermanentError(
                f"candidate {person_id} has no application at a hired step ({names}): "
                "set options.hired_steps to your hired step's name"
            )
        return {"jobId": hired[0].get("jobId"), "step": hired[0].get("currentStepName")}

    @classmethod
    def hook_event(cls, body: Any) -> InboundEvent | None:
        """The hire a webhook body names; None for another event (see :class:`HiredEvent`)."""
        try:
            event = HiredEvent.model_validate(body)
        except ValidationError as exc:
            raise ValueError(_problems(exc)) from None
        if event.event != HIRED_EVENT:
            return None
        hints = event.model_dump(
            mode="json", include={"job", "unit", "department", "startDate"}, exclude_none=True
        )
        job = "" if event.job is None else str(event.job.id)
        return InboundEvent(str(event.candidate.id), job, hints)


def _candidate_id(person_id: str) -> int:
    """A candidate id is a positive integer [V]: anything else never reaches the URL."""
    if not (person_id.isascii() and person_id.isdigit()) or not 1 <= int(person_id) <= MAX_ID:
        raise PermanentError(f"{person_id!r} is not a Taleez candidate id (a positive integer)")
    return int(person_id)


def _problems(exc: ValidationError) -> str:
    """``candidate.id: Input should be ...; event: Field required`` (paths, no values)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors()
    )
