"""TalentLMS (API v1) as a source: a portal's users, or one branch's, read in one answer.

Seed S2 (LMS -> HR, and the LMS half of two-way). Behaviour, options, the default read
map and what is verified or assumed: ``docs/connectors/talentlms.md``, "As a source". The
API's shared facts (auth, path-segment arguments, error body, the ``/ratelimit`` quota)
are the target's, in :mod:`provisioning.connectors.talentlms`; the facts only a reader
needs are in the block below.
"""

import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import Field

from provisioning.connectors.base import ConnectorOptions, ConnectorSetup, SourcePage
from provisioning.connectors.profile import ApiClient
from provisioning.connectors.talentlms import (
    BRANCHES,
    BURST_SECONDS,
    CUSTOM_FIELDS,
    PROFILE,
    RATE_LIMIT,
    USERS,
)
from provisioning.errors import DeliveryError, PermanentError, RateLimited

__all__ = ["DEFAULT_READ_MAP", "TalentLmsSource", "TalentLmsSourceOptions", "hire_day"]

# -- vendor facts (target-apis.md §2a, §9) --------------------------------------------------
#: [V] ``GET /users`` answers every user at once (v1 has no paging); abridged users carry
#: ``id, login, first_name, last_name, email, language, status, created_on`` [V] and
#: ``created_on_timestamp`` (unix seconds, a string) [I]; ``custom_field_N`` values on
#: them [A].
#: [I] ``GET /branches/id:{id}`` -> ``users: [{"id", "name"}]``, the only way to list a
#: branch's members (v1 has no ``getusersbybranch`` [V]).
BRANCH_USERS = "users"
#: [V] Dates in the portal's format: ``dd/mm/yyyy`` by default (a portal may use another,
#: hence ``options.date_format``), ``created_on`` with ``, HH:MM:SS`` after the date.
PORTAL_DATE = "%d/%m/%Y"
CREATED_ON = "created_on"
CREATED_ON_TIMESTAMP = "created_on_timestamp"

# -- fields the connector adds to each record ------------------------------------------
#: ``{name: value}`` of the portal's custom user fields, by their exact names (S2.3).
CUSTOM = "custom_fields"
#: The hire date (ISO): the custom hire date field when it holds a valid date, else the
#: day the LMS user was created (S2.5).
HIRE_DATE = "hire_date"

#: SCIM path <- field of a TalentLMS user (S2.3 defaults; the hire date of S2.5).
DEFAULT_READ_MAP: Mapping[str, Any] = MappingProxyType(
    {
        "userName": {"from": "login", "required": True},
        "name.givenName": "first_name",
        "name.familyName": "last_name",
        'emails[type eq "work"].value': {"from": "email", "transform": ["lower"]},
        "hr:language": "language",
        "hr:hireDate": HIRE_DATE,
        "active": {
            "from": "status",
            "transform": [{"lookup": {"table": {"active": True}, "default": False}}],
            "default": True,
        },
    }
)


class TalentLmsSourceOptions(ConnectorOptions):
    """The ``options:`` of a ``type: talentlms`` connection with ``direction: source``."""

    #: Read only this branch's members (S2.1); left out: every user of the portal.
    branch_id: int | None = Field(None, ge=1)
    #: The portal's custom user field holding the hire date (exact, case-sensitive name);
    #: without a valid date there, the user's creation date is the hire date (S2.5).
    hire_date_field: str | None = Field("hireDate", min_length=1)
    #: The portal's date format (strftime), for the hire date field and ``created_on``.
    date_format: str = Field(PORTAL_DATE, min_length=2)


def hire_day(user: Mapping[str, Any], custom_date: Any, date_format: str) -> str | None:
    """The hire date of an LMS user (ISO), by S2.5: ``custom_date`` if it is a valid date in
    ``date_format`` (or ISO), else the day the user was created, else None."""
    for day in (_day(custom_date, date_format), _created(user, date_format)):
        if day is not None:
            return day.isoformat()
    return None


class TalentLmsSource:
    """Reads a TalentLMS portal's users (see the module docstring).

    Args:
        setup: ``base_url`` is the portal's ``https://<domain>.talentlms.com/api/v1``;
            ``http`` carries the basic auth (API key as username, empty password).
        now: unix seconds, to turn ``/ratelimit``'s reset into a wait.
    """

    type: ClassVar[str] = "talentlms"
    default_read_map: ClassVar[Mapping[str, Any]] = DEFAULT_READ_MAP
    options_model: ClassVar[Any] = TalentLmsSourceOptions

    def __init__(self, setup: ConnectorSetup, *, now: Callable[[], float] = time.time) -> None:
        self.options = TalentLmsSourceOptions.model_validate(dict(setup.options))
        self._api = ApiClient(setup.http, setup.base_url, PROFILE)
        self._now = now

    async def check(self) -> None:
        """The custom field definitions (and the branch, when one is configured)."""
        await self._custom_names()
        await self._branch_members()

    async def read_page(self, since: str | None, cursor: str | None) -> SourcePage:
        """Every user (or the branch's) in one page: v1 has neither paging nor "changed
        since", so ``since`` and ``cursor`` are ignored and every read is full."""
        members = await self._branch_members()
        names = await self._custom_names()
        users = self._api.json(await self._get(f"/{USERS}"))
        if not isinstance(users, list):
            raise PermanentError("TalentLMS answered /users without a list of users")
        records: list[Mapping[str, Any]] = [
            self._record(user, names)
            for user in users
            if isinstance(user, dict) and (members is None or str(user.get("id")) in members)
        ]
        return SourcePage(records=records)

    def _record(self, user: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
        custom = {name: user[key] for key, name in names.items() if key in user}
        wanted = self.options.hire_date_field
        hired = hire_day(user, custom.get(wanted) if wanted else None, self.options.date_format)
        return {**user, CUSTOM: custom, HIRE_DATE: hired}

    async def _branch_members(self) -> set[str] | None:
        branch = self.options.branch_id
        if branch is None:
            return None
        found = self._api.json(await self._get(f"/{BRANCHES}/id:{branch}"))
        users = found.get(BRANCH_USERS) if isinstance(found, dict) else None
        if not isinstance(users, list):
            raise PermanentError(f"TalentLMS answered branch {branch} without its users")
        return {str(u["id"]) for u in users if isinstance(u, dict) and u.get("id") is not None}

    async def _custom_names(self) -> dict[str, str]:
        """``custom_field_N`` -> the field's name, from the portal's definitions."""
        definitions = self._api.json(await self._get(f"/{CUSTOM_FIELDS}"))
        if not isinstance(definitions, list):
            raise PermanentError(f"TalentLMS answered /{CUSTOM_FIELDS} without a list")
        return {
            str(d["key"]): str(d["name"])
            for d in definitions
            if isinstance(d, dict) and d.get("key") and d.get("name")
        }

    async def _get(self, path: str) -> Any:
        try:
            return await self._api.call("GET", path)
        except RateLimited as exc:
            if exc.retry_after is not None:
                raise
            raise await self._throttled(exc) from None

    async def _throttled(self, exc: RateLimited) -> RateLimited:
        """The wait of a 429 without ``Retry-After``: until the quota's reset when
        ``/ratelimit`` says no call remains, else the 5-second window."""
        try:
            quota = (await self._api.call("GET", f"/{RATE_LIMIT}")).json()
            remaining, reset = int(quota["remaining"]), float(quota["reset"])
        except (DeliveryError, ValueError, KeyError, TypeError):
            remaining, reset = 1, 0.0
        if remaining > 0:
            return RateLimited(exc.message, status=exc.status, retry_after=BURST_SECONDS)
        message = f"{exc.message}: the plan's API quota is used up"
        wait = max(BURST_SECONDS, reset - self._now())
        return RateLimited(message, status=exc.status, retry_after=wait)


def _day(value: Any, date_format: str) -> date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    for form in (date_format, "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), form).date()
        except ValueError:
            continue
    return None


def _created(user: Mapping[str, Any], date_format: str) -> date | None:
    stamp = user.get(CREATED_ON_TIMESTAMP)
    if isinstance(stamp, str | int) and str(stamp).isascii() and str(stamp).isdigit():
        return datetime.fromtimestamp(int(stamp), UTC).date()
    created = user.get(CREATED_ON)
    if isinstance(created, str):
        return _day(created.split(",")[0], date_format)
    return None
