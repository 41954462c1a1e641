"""A generic JSON HR source: people read page by page, in full or changed since a checkpoint.

The contract (docs/sync-runs.md, "The generic HR source"; fake: tests/fakes/hr_json.py)::

    GET {base_url}/people?page=1&per_page=200[&changed_since=<checkpoint>]
    200 {"people": [{...}, ...], "next_page": 2 | null, "as_of": "<checkpoint>"}

Auth is the connection's ``auth:`` (bearer or API key); 401/403 are AuthError, 429 with
``Retry-After`` is RateLimited (the run waits and asks again). ``as_of`` of the first page
is the checkpoint the next incremental read starts from: a change made while the pages
are read is then read again next time rather than lost.

Options: ``path`` (default ``/people``), ``per_page`` (1 to 500, default 200).
"""

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from provisioning.connectors.base import ConnectorSetup, SourcePage
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.errors import PermanentError

PROFILE = ApiProfile(vendor="HR source", headers={"Accept": "application/json"})

#: SCIM path <- field of the generic source's person record.
DEFAULT_READ_MAP: Mapping[str, Any] = {
    "userName": {"from": ["username", "work_email"], "required": True},
    "name.givenName": "first_name",
    "name.familyName": "last_name",
    "displayName": "display_name",
    'emails[type eq "work"].value': "work_email",
    "title": "job_title",
    "enterprise:employeeNumber": "employee_number",
    "enterprise:department": "department",
    "hr:hireDate": "start_date",
    "hr:terminationDate": "end_date",
    "active": {
        "from": "status",
        "transform": [{"lookup": {"table": {"active": True}, "default": False}}],
        "default": True,
    },
}


class HrJsonOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = "/people"
    per_page: int = Field(200, ge=1, le=500)


class HrJsonSource:
    """Reads people from the generic JSON HR API (see the module docstring)."""

    type: ClassVar[str] = "hr_json"
    default_read_map: ClassVar[Mapping[str, Any]] = DEFAULT_READ_MAP
    options_model: ClassVar[Any] = HrJsonOptions

    def __init__(self, setup: ConnectorSetup) -> None:
        self.options = HrJsonOptions.model_validate(dict(setup.options))
        self._api = ApiClient(setup.http, setup.base_url, PROFILE)

    async def check(self) -> None:
        await self._api.call("GET", self.options.path, params={"page": "1", "per_page": "1"})

    async def read_page(self, since: str | None, cursor: str | None) -> SourcePage:
        params = {"page": cursor or "1", "per_page": str(self.options.per_page)}
        if since is not None:
            params["changed_since"] = since
        body = self._api.json(await self._api.call("GET", self.options.path, params=params))
        people = body.get("people") if isinstance(body, dict) else None
        if not isinstance(people, list) or not all(isinstance(p, dict) for p in people):
            raise PermanentError("HR source answered without a list of people")
        following = body.get("next_page")
        return SourcePage(
            records=people,
            next=None if following in (None, "") else str(following),
            checkpoint=_text(body.get("as_of")),
        )


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
