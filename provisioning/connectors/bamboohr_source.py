"""BambooHR as a source: employees read from one custom report, in full or changed since.

The BambooHR *target* is :mod:`provisioning.connectors.bamboohr`; both share its API
root, basic auth and :data:`~provisioning.connectors.bamboohr.PROFILE` (error header,
429 and 503 as throttling, ``Accept: application/json``). Behaviour, sources ([V]
documented, [I] inferred, [A] assumed) and limits: ``docs/connectors/bamboohr.md``, "As a
source"; every vendor fact of the source is in the block below.
"""

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import Field, model_validator

from provisioning.connectors.bamboohr import (
    FIELDS_PATH,
    REPORT_PARAMS,
    REPORT_PATH,
    api_client,
)
from provisioning.connectors.base import ConnectorOptions, ConnectorSetup, SourcePage
from provisioning.errors import PermanentError

__all__ = ["DEFAULT_READ_MAP", "BambooHrSource", "BambooHrSourceOptions"]

# -- vendor facts -----------------------------------------------------------------------
#: [V] S3.2's minimum fields by their API names (documentation.bamboohr.com, "list of
#: field names"); ``lastChanged`` [V] gives the checkpoint. Direct reports are no field:
#: they follow from everyone's supervisor.
REPORT_FIELDS = (
    "employeeNumber",
    "status",
    "firstName",
    "middleName",
    "lastName",
    "preferredName",
    "workEmail",
    "hireDate",
    "originalHireDate",
    "terminationDate",
    "jobTitle",
    "department",
    "division",
    "location",
    "lastChanged",
)
#: [V] A report takes at most 400 fields (more: 400).
MAX_REPORT_FIELDS = 400
#: [I] ``supervisorEId`` holds the supervisor's BambooHR id (SGNL joins id -> supervisorEId);
#: Workato labels it an employee number [I]: see the docs page for the other reading.
SUPERVISOR_FIELD = "supervisorEId"
#: Elevo's own exclusion checkbox (its Lucca connector reads ``e_skip_elevo_sync`` [V]);
#: the BambooHR field's API name is the customer's: [A] this default.
SKIP_FIELD = "skip_elevo_sync"
#: [V] ``filters.lastChanged`` with ``includeNull: no`` keeps employees changed since
#: ``value``; [A] the bound is inclusive (a re-read costs nothing: digests are equal) and a
#: checkbox edit moves ``lastChanged``.
LAST_CHANGED = "lastChanged"
#: [V] Ids inserted, updated or deleted since a moment: ``{"latest", "employees": {id:
#: {"id", "action": "Deleted", "lastChanged"}}}``; read for deletions, which a report
#: cannot show (a deleted employee is simply not in it).
CHANGED_PATH = "/employees/changed"
DELETED = "Deleted"
#: [A] An empty date may read ``0000-00-00``; it is handed over as no value.
EMPTY_DATE = "0000-00-00"
REPORT_TITLE = "scimgw source"

#: SCIM path <- BambooHR field. userName is the work email lower-cased: the value the
#: IdP signs people in with (S1.3 / S3), compared case-insensitively.
DEFAULT_READ_MAP: Mapping[str, Any] = MappingProxyType(
    {
        "userName": {"from": "workEmail", "transform": ["lower"], "required": True},
        "name.givenName": "firstName",
        "name.middleName": "middleName",
        "name.familyName": "lastName",
        "nickName": "preferredName",
        'emails[type eq "work"].value': "workEmail",
        "title": "jobTitle",
        "enterprise:employeeNumber": "employeeNumber",
        "enterprise:department": "department",
        "enterprise:division": "division",
        "hr:location": "location",
        # hireDate is the latest hire (a rehire's new first day); the original one stands
        # in when BambooHR has no hireDate.
        "hr:hireDate": {"from": ["hireDate", "originalHireDate"]},
        "hr:terminationDate": "terminationDate",
        "active": {
            "from": "status",
            "transform": [{"lookup": {"table": {"Active": True}, "default": False}}],
            "required": True,
        },
    }
)

#: A BambooHR field's API name: an alias (``customShirtSize``) or a numeric id.
_FIELD_NAME = r"^[A-Za-z0-9_]{1,100}$"


class BambooHrSourceOptions(ConnectorOptions):
    """The ``options:`` of a ``type: bamboohr``, ``direction: source`` connection."""

    #: The company's BambooHR subdomain (``acme`` for acme.bamboohr.com) [V].
    company_domain: str = Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
    #: The checkbox that leaves a person out (S3.3); null: nobody is left out.
    skip_field: str | None = Field(SKIP_FIELD, pattern=_FIELD_NAME)
    #: The field naming the supervisor's BambooHR id (the manager, S3.2).
    supervisor_field: str = Field(SUPERVISOR_FIELD, pattern=_FIELD_NAME)
    #: More fields to read, for entries of ``source.field_map_extra``.
    fields: tuple[Annotated[str, Field(pattern=_FIELD_NAME)], ...] = ()

    @model_validator(mode="after")
    def _bounded(self) -> "BambooHrSourceOptions":
        if len(self.report_fields()) > MAX_REPORT_FIELDS:
            raise ValueError(f"BambooHR reads at most {MAX_REPORT_FIELDS} fields in a report")
        return self

    def report_fields(self) -> tuple[str, ...]:
        """Every field the report asks for, once each, in order."""
        asked = (*REPORT_FIELDS, self.supervisor_field, self.skip_field or "", *self.fields)
        return tuple(dict.fromkeys(name for name in asked if name))

    def must_see(self) -> tuple[str, ...]:
        """Fields the run cannot do without: BambooHR drops fields it does not know or the
        key's user may not see, without a word [V]."""
        return tuple(
            f for f in ("status", "workEmail", self.supervisor_field, self.skip_field) if f
        )


class BambooHrSource:
    """Reads employees from BambooHR (see the module docstring).

    Args:
        setup: ``base_url`` is the API host (default BambooHR's, as for the target);
            ``http`` carries the basic auth; ``options`` are validated by
            :class:`BambooHrSourceOptions`.
    """

    type: ClassVar[str] = "bamboohr"
    default_read_map: ClassVar[Mapping[str, Any]] = DEFAULT_READ_MAP
    options_model: ClassVar[Any] = BambooHrSourceOptions

    def __init__(self, setup: ConnectorSetup) -> None:
        self.options = BambooHrSourceOptions.model_validate(dict(setup.options))
        self._api = api_client(setup, self.options.company_domain)

    @classmethod
    def source_defaults(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """The ``source:`` settings BambooHR's records call for, from the options: the
        manager and the skip box are named once, in ``options``."""
        chosen = BambooHrSourceOptions.model_validate(dict(options))
        return {"manager_field": chosen.supervisor_field, "skip_field": chosen.skip_field}

    async def check(self) -> None:
        """Read the field catalogue; raise AuthError on 401/403."""
        if not isinstance(self._api.json(await self._api.call("GET", FIELDS_PATH)), list | dict):
            raise PermanentError("BambooHR's field catalogue is not JSON")

    async def read_page(self, since: str | None, cursor: str | None) -> SourcePage:
        """The whole report (one answer, active and inactive employees), or the employees
        changed since ``since``; the checkpoint is the newest ``lastChanged`` read."""
        query: dict[str, Any] = {
            "title": REPORT_TITLE,
            "fields": list(self.options.report_fields()),
        }
        if since is not None:
            query["filters"] = {LAST_CHANGED: {"includeNull": "no", "value": since}}
        response = await self._api.call("POST", REPORT_PATH, query, params=REPORT_PARAMS)
        # Parsing the whole company is CPU (about 20 ms for 5,000 people): not on the loop.
        records = await asyncio.to_thread(self._records, response)
        gone = () if since is None else await self._deleted_since(since)
        return SourcePage(records=records, checkpoint=_newest(records) or since, gone=gone)

    def _records(self, response: httpx.Response) -> list[Mapping[str, Any]]:
        """The report's employees; PermanentError if it is no report or lacks a field."""
        body = self._api.json(response)
        rows = body.get("employees") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise PermanentError("BambooHR answered the report without a list of employees")
        self._require_fields(body.get("fields"))
        return [_record(row) for row in rows if isinstance(row, dict)]

    async def _deleted_since(self, since: str) -> tuple[str, ...]:
        """Ids of the employees deleted since ``since`` (an incremental read's leavers)."""
        params = {"since": since, "type": DELETED.lower()}
        changes = self._api.json(await self._api.call("GET", CHANGED_PATH, params=params))
        listed = changes.get("employees") if isinstance(changes, dict) else None
        if not isinstance(listed, dict):
            raise PermanentError("BambooHR answered /employees/changed without its employees")
        return tuple(
            str(entry.get("id") or key)
            for key, entry in listed.items()
            if isinstance(entry, dict) and entry.get("action") == DELETED
        )

    def _require_fields(self, described: Any) -> None:
        got = {str(f.get("id")) for f in described or () if isinstance(f, dict)}
        missing = [name for name in self.options.must_see() if name not in got]
        if missing:
            raise PermanentError(
                f"BambooHR's report left out {', '.join(missing)}: the field does not exist "
                "or the API key's user may not see it; create it or grant access (or change "
                "options.skip_field / supervisor_field)"
            )


def _record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A report row as the read map takes it: an empty date is no value [A]."""
    return {key: None if value == EMPTY_DATE else value for key, value in row.items()}


def _newest(records: list[Mapping[str, Any]]) -> str | None:
    """The latest ``lastChanged`` of the records, as UTC ``YYYY-MM-DDTHH:MM:SSZ``."""
    moments = [m for m in (_moment(r.get(LAST_CHANGED)) for r in records) if m is not None]
    return max(moments).strftime("%Y-%m-%dT%H:%M:%SZ") if moments else None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
