"""Dynamics 365 Human Resources as a write-back target: worker custom fields over OData.

Behaviour (write-back only: workers are never created, renamed or terminated; custom fields
read from ``$metadata``), sources and limits: ``docs/connectors/dynamics365-hr.md``;
every vendor fact is in the constants below.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import Field

from provisioning.connectors import odata
from provisioning.connectors.base import (
    ConnectorOptions,
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
)
from provisioning.connectors.catalog import Cached
from provisioning.connectors.odata import EDM, QUERY_SAFE, EntitySchema, with_query
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.connectors.resource import matching
from provisioning.errors import ConflictError, MappingError, PermanentError, TargetConfigError

__all__ = [
    "EDM",
    "QUERY_SAFE",
    "Dynamics365HrConnector",
    "Dynamics365HrOptions",
    "WorkerSchema",
    "odata_string",
    "parse_metadata",
    "read_odata_error",
]

#: [A] Entity set of workers and its key (target-apis.md §1a; confirmed by ``check()``).
WORKERS = "Workers"
PERSONNEL_NUMBER = "PersonnelNumber"
#: [V] The worker's email on the F&O side of the dual-write map (hr-dataverse-integration).
PRIMARY_EMAIL = "PrimaryContactEmail"
#: [A] F&O publishes a custom field as ``<Name>_Custom`` on the entities it is enabled for.
CUSTOM_SUFFIX = "_Custom"
#: [A] A checkbox custom field surfaces as this enum (members ``No``, ``Yes``).
NO_YES = "Microsoft.Dynamics.DataEntities.NoYes"
#: [A] ODataLib's message for a property the entity type lacks (read from innererror too).
UNKNOWN_PROPERTY = "does not exist on type"
#: [A] A date field is an ``Edm.DateTimeOffset``: a date is written as midnight UTC.
DATE_SUFFIX = "T00:00:00Z"
#: [V] odata.md: OData v4 with JSON payloads.
ODATA_HEADERS = odata.HEADERS
#: [A] Standard OData: ``PATCH`` with ``If-Match: *`` writes whatever version HR holds (204).
IF_MATCH_ANY = MappingProxyType({"If-Match": "*"})
#: [V] odata.md: pages of at most 10,000 rows linked by ``@odata.nextLink``.
PAGES = odata.PAGES
#: A lookup by key or email fits one page; more than this is a server ignoring the filter.
LOOKUP_PAGES = 5
#: A missing field re-reads ``$metadata`` (tens of MB in F&O) at most this often.
METADATA_REFRESH_SECONDS = 60.0
#: Added to a bodiless 401: the usual cause is the app missing in F&O itself.
UNREGISTERED_HINT = (
    "the token was refused; register the app's client id in finance and operations "
    "(System administration > Setup > Microsoft Entra applications)"
)

LOOKUP_FIELDS: Mapping[str, str] = MappingProxyType(
    {"employeeNumber": PERSONNEL_NUMBER, "email": PRIMARY_EMAIL}
)


class Dynamics365HrOptions(ConnectorOptions):
    """The ``options:`` of a ``dynamics365_hr`` connection (``base_url`` is ``.../data``)."""

    #: The workers' entity set, if the environment publishes them under another name.
    entity_set: str = Field(WORKERS, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    #: Only properties with this suffix are written; standard HR fields never are.
    custom_field_suffix: str = Field(CUSTOM_SUFFIX, min_length=1)


#: What ``$metadata`` says about the workers' entity type (its custom properties kept).
WorkerSchema = EntitySchema


def parse_metadata(content: bytes, entity_set: str, suffix: str = CUSTOM_SUFFIX) -> WorkerSchema:
    """The key and custom properties (named ``*<suffix>``) of ``entity_set``'s type."""
    return odata.parse_metadata(content, entity_set, lambda name: name.endswith(suffix))


#: OData's error body, with a hint for the bodiless 401 of an app F&O does not know.
read_odata_error = replace(odata.ERROR, silent={401: UNREGISTERED_HINT})

#: How an OData v4 service (F&O's HR data entities) answers: its ``error.message``.
PROFILE = ApiProfile(
    vendor="HR",
    read_message=read_odata_error,
    headers=ODATA_HEADERS,
    gone="worker {id}",
    paging=PAGES,
)


#: An OData string literal (kept under its old name).
odata_string = odata.string_literal


def _encode(value: Any, edm_type: str) -> Any:
    if edm_type == NO_YES and isinstance(value, bool):
        return "Yes" if value else "No"
    if edm_type == "Edm.String" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat() + DATE_SUFFIX
    return value


class Dynamics365HrConnector:
    """Writes mapped values into workers' custom fields; workers themselves are HR's.

    Args:
        setup: ``base_url`` is the OData root (``https://<env>.operations.dynamics.com/data``);
            ``http`` carries the ``microsoft`` auth; ``options`` per
            :class:`Dynamics365HrOptions`.
        clock: monotonic seconds, for the ``$metadata`` refresh interval.
    """

    type: ClassVar[str] = "dynamics365_hr"
    lookup_keys: ClassVar[tuple[str, ...]] = tuple(LOOKUP_FIELDS)
    #: Only the key: the custom fields are the tenant's own (docs/connectors/dynamics365-hr.md).
    default_field_map: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {PERSONNEL_NUMBER: {"from": "enterprise:employeeNumber", "required": True}}
    )

    def __init__(
        self, setup: ConnectorSetup, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.options = Dynamics365HrOptions.model_validate(dict(setup.options))
        self._api = ApiClient(setup.http, setup.base_url, PROFILE)
        self._collection = f"/{self.options.entity_set}"
        self._schema = Cached(self._read_schema, every=_refresh_interval, clock=clock)

    async def check(self) -> None:
        """Read one worker (proves the token and the app's F&O registration), then ``$metadata``.

        Raises AuthError on 401/403, TargetConfigError if ``$metadata`` lacks the entity set
        or its key is not the personnel number.
        """
        await self._get(self._collection, {"$top": "1", "$select": PERSONNEL_NUMBER})
        await self._schema.reload()

    async def find(self, key: str, value: str) -> list[RemoteAccount]:
        """Workers whose personnel number or primary email equals ``value`` (any case).

        F&O reads ``*`` in an ``eq`` literal as a wildcard, so rows are checked again here.
        """
        if key not in LOOKUP_FIELDS:
            raise PermanentError(f"dynamics365_hr cannot look workers up by {key!r}")
        field = LOOKUP_FIELDS[key]
        query = {
            "$filter": f"{field} eq {odata_string(value)}",
            "$select": f"{PERSONNEL_NUMBER},{PRIMARY_EMAIL}",
        }
        rows = self._api.items(with_query(self._collection, query), max_pages=LOOKUP_PAGES)
        return [_worker(row) for row in await matching(rows, field, value)]

    async def create(self, payload: Mapping[str, Any], context: DeliveryContext) -> RemoteAccount:
        """Find the worker by the payload's personnel number and write its custom fields.

        Raises:
            MappingError: the payload has no personnel number.
            PermanentError: no worker has it (status 404): HR hires, scimgw does not.
            ConflictError: several workers match.
        """
        self._custom(payload)  # refuse a map writing standard fields before any call
        number = payload.get(PERSONNEL_NUMBER)
        if not number:
            raise MappingError(f"{PERSONNEL_NUMBER} is needed to find the worker in HR")
        found = await self.find("employeeNumber", str(number))
        if not found:
            raise PermanentError(
                f"no worker with this {PERSONNEL_NUMBER} in {self.options.entity_set}; "
                "scimgw does not create workers in HR",
                status=404,
            )
        if len(found) > 1:
            raise ConflictError(f"{len(found)} workers share this {PERSONNEL_NUMBER}")
        await self._patch(found[0].id, payload)
        return found[0]

    async def update(
        self, account: RemoteAccount, payload: Mapping[str, Any], context: DeliveryContext
    ) -> RemoteAccount:
        """PATCH the payload's custom fields on the linked worker (no request if none)."""
        await self._patch(account.id, payload)
        return account

    async def deactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Nothing: employment belongs to HR, and write-back never terminates a worker."""

    async def reactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Nothing, as for :meth:`deactivate`."""

    async def delete(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Nothing: scimgw never deletes workers; their custom fields keep the last values."""

    # -- custom fields ---------------------------------------------------------------------

    def _custom(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The payload's custom fields; PermanentError if it holds a standard field (S1.4)."""
        fields = {name: value for name, value in payload.items() if name != PERSONNEL_NUMBER}
        suffix = self.options.custom_field_suffix
        standard = sorted(name for name in fields if not name.endswith(suffix))
        if standard:
            raise PermanentError(
                f"the field map writes {', '.join(standard)}: dynamics365_hr writes custom "
                f"fields (*{suffix}) only, never standard HR fields"
            )
        return fields

    async def _patch(self, number: str, payload: Mapping[str, Any]) -> None:
        fields = self._custom(payload)
        if not fields:
            return
        schema = await self._schema_with(fields)
        body = {name: _encode(value, schema.properties[name]) for name, value in fields.items()}
        key = quote(odata_string(number), safe="'")
        url = f"{self._collection}({PERSONNEL_NUMBER}={key})"
        worker = RemoteAccount(id=number)
        response = await self._api.call(
            "PATCH", url, body, headers=IF_MATCH_ANY, gone=worker, tolerate=_unknown_property
        )
        if _unknown_property(response):
            self._schema.forget()  # unpublished since we read $metadata: read it again
            raise TargetConfigError(f"HR refused a custom field: {read_odata_error(response)}")

    async def _schema_with(self, fields: Mapping[str, Any]) -> WorkerSchema:
        """The schema, re-read (at most every minute) when it lacks one of ``fields``."""
        schema = await self._schema.get(lambda known: all(n in known.properties for n in fields))
        missing = sorted(name for name in fields if name not in schema.properties)
        if missing:
            raise TargetConfigError(
                f"custom fields not published on {schema.entity_type} "
                f"({self.options.entity_set}): {', '.join(missing)}; create them and enable "
                "them for the entity in HR (Custom fields > Entities): new fields can take "
                "minutes to appear"
            )
        return schema

    async def _read_schema(self) -> WorkerSchema:
        response = await self._get("/$metadata", {}, accept="application/xml")
        schema = parse_metadata(
            response.content, self.options.entity_set, self.options.custom_field_suffix
        )
        if schema.keys != (PERSONNEL_NUMBER,):
            raise TargetConfigError(
                f"{schema.entity_type} is keyed by {', '.join(schema.keys) or 'nothing'}, "
                f"not {PERSONNEL_NUMBER}: point options.entity_set at the workers"
            )
        return schema

    # -- HTTP ------------------------------------------------------------------------------

    async def _get(
        self, url: str, query: Mapping[str, str], accept: str = "application/json"
    ) -> httpx.Response:
        return await self._api.call("GET", with_query(url, query), headers={"Accept": accept})


def _refresh_interval() -> float:
    # Read at each miss rather than once, so that a test can let the minutes pass.
    return METADATA_REFRESH_SECONDS


def _unknown_property(response: httpx.Response) -> bool:
    return response.status_code == 400 and UNKNOWN_PROPERTY in (read_odata_error(response) or "")


def _worker(row: Mapping[str, Any]) -> RemoteAccount:
    # Employment is HR's business: ``active`` stays unknown so the engine never "reactivates".
    return RemoteAccount(id=str(row[PERSONNEL_NUMBER]), fields=dict(row))
