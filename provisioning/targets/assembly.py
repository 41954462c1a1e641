"""Building a running target from a connection's settings: connector, map, scope, limits.

A target is typed by what its connector can do: a :class:`TargetConnector` takes calls per
account (and per group when it is a :class:`GroupTarget` too), an :class:`ExportConnector`
takes whole files. Every call to the target goes through the connection's
:class:`Throttle` (:meth:`Target.call`).

The registry maps a configuration ``type`` to its connector class by dotted path, so a
connector module is imported only when a connection uses it.
"""

import functools
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

import httpx
import sqlalchemy as sa

from gateway.config import GatewayConfig, TargetConnection
from gateway.scim.kinds import Kind, kinds_for
from provisioning.connectors import (
    ConnectorSetup,
    ExportConnector,
    GroupTarget,
    TargetConnector,
)
from provisioning.mapping import FieldMap, compile_scope
from provisioning.targets import replies
from provisioning.targets.client import build_client
from provisioning.targets.ratelimit import Throttle

P = ParamSpec("P")
R = TypeVar("R")

#: Connection ``type`` -> "module:Class" of its connector.
REGISTRY: dict[str, str] = {
    "scim": "provisioning.connectors.scim:ScimConnector",
    "webhook": "provisioning.connectors.webhook:WebhookConnector",
    "csv_sftp": "provisioning.connectors.csv_sftp:CsvSftpConnector",
    "talentlms": "provisioning.connectors.talentlms:TalentLmsConnector",
    "tribalhabits": "provisioning.connectors.tribalhabits:TribalHabitsConnector",
    "lucca": "provisioning.connectors.lucca:LuccaConnector",
    "talenthr": "provisioning.connectors.talenthr:TalentHrConnector",
    "eloops": "provisioning.connectors.eloops:EloopsConnector",
    "elevo": "provisioning.connectors.elevo:ElevoConnector",
    "dynamics365_hr": "provisioning.connectors.dynamics365_hr:Dynamics365HrConnector",
    "bamboohr": "provisioning.connectors.bamboohr:BambooHrConnector",
}


def connector_class(type_name: str) -> Any:
    """The connector class registered for ``type_name``.

    Raises:
        ValueError: no connector has that type.
    """
    try:
        module_name, class_name = REGISTRY[type_name].split(":")
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"unknown connection type {type_name!r} (known: {known})") from None
    return getattr(importlib.import_module(module_name), class_name)


@functools.cache
def _implements(connector_type: type, protocol: type) -> bool:
    """``isinstance(connector, protocol)`` for a connector of that class, decided once per
    class: the check against a runtime Protocol walks its members every time (5 % of a
    delivery's CPU, the connector being read on every call). The members are the
    protocol's annotations (class variables) and methods, as ``isinstance`` reads them."""
    methods = {name for name, value in vars(protocol).items() if callable(value)}
    members = (set(getattr(protocol, "__annotations__", {})) | methods) - _PROTOCOL_INTERNALS
    return all(hasattr(connector_type, name) for name in members if not name.startswith("__"))


_PROTOCOL_INTERNALS = frozenset({"_is_protocol", "_is_runtime_protocol"})


@dataclass
class Target:
    """One connection of one tenant, ready to deliver."""

    tenant: str
    name: str
    settings: TargetConnection
    connector: TargetConnector | ExportConnector
    field_map: FieldMap
    kind: Kind
    scope: sa.ColumnElement[bool] | None
    client: httpx.AsyncClient
    #: The connection's rate and calls in flight, taken around every call (:meth:`call`).
    throttle: Throttle

    @property
    def exports(self) -> bool:
        """True for file targets fed by a full export per run."""
        return _implements(type(self.connector), ExportConnector)

    @property
    def accounts(self) -> TargetConnector:
        """The connector of a target that takes calls per account."""
        if not _implements(type(self.connector), TargetConnector):
            raise TypeError(f"{self.name} takes files, not calls per account")
        return cast(TargetConnector, self.connector)

    @property
    def exporter(self) -> ExportConnector:
        """The connector of a file target."""
        if not isinstance(self.connector, ExportConnector):
            raise TypeError(f"{self.name} takes calls per account, not files")
        return self.connector

    @property
    def groups(self) -> GroupTarget | None:
        """The connector as a holder of groups, when this connection takes groups."""
        connector = self.connector
        if isinstance(connector, GroupTarget) and connector.manages_groups:
            return connector
        return None

    async def call(self, method: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the target within the connection's throttle (a slot, then a token)."""
        async with self.throttle:
            return await method(*args, **kwargs)

    async def aclose(self) -> None:
        await self.client.aclose()


def build_target(
    tenant: str,
    name: str,
    settings: TargetConnection,
    kind: Kind,
    dialect: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Target:
    """Build the target of one connection (its client is owned by the target)."""
    cls = connector_class(settings.type)
    client = build_client(settings, transport=transport)
    hooks = client.event_hooks
    # Every reply's status reaches the delivery that caused it (its delivery row).
    client.event_hooks = {**hooks, "response": [*hooks["response"], replies.record]}
    setup = ConnectorSetup(
        name=name, base_url=settings.base_url, http=client, options=settings.options
    )
    raw_map = settings.field_map if settings.field_map is not None else cls.default_field_map
    raw_map = {**raw_map, **settings.field_map_extra}
    return Target(
        tenant=tenant,
        name=name,
        settings=settings,
        connector=cls(setup),
        field_map=FieldMap.parse(dict(raw_map)),
        kind=kind,
        scope=compile_scope(kind, settings.scope, dialect),
        client=client,
        throttle=Throttle.for_connection(settings),
    )


def build_targets(
    config: GatewayConfig,
    dialect: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    only: str | None = None,
) -> list[Target]:
    """Every enabled target connection of every tenant (or only the one named)."""
    targets = []
    for tenant_id, tenant in config.tenants.items():
        # The engine reads what it delivers, dateOfBirth and ssn included: a scope filter
        # (the operator's configuration) may name them (gateway.scim.visibility).
        kind = kinds_for(tenant.custom_field_spec(), sensitive_reader=True)["users"]
        for name in tenant.enabled_targets():
            if only is None or name == only:
                settings = tenant.connections[name]
                targets.append(
                    build_target(tenant_id, name, settings, kind, dialect, transport=transport)
                )
    return targets
