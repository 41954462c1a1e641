"""Building a running target from a connection's settings: connector, map, scope, limits.

The registry maps a configuration ``type`` to its connector class by dotted path, so a
connector module is imported only when a connection uses it.
"""

import asyncio
import importlib
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from gateway.config import GatewayConfig, TargetConnection
from gateway.scim.kinds import Kind, kinds_for
from provisioning.connectors import ConnectorSetup
from provisioning.mapping import FieldMap, compile_scope
from provisioning.targets import replies
from provisioning.targets.client import build_client
from provisioning.targets.ratelimit import RateLimiter

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


@dataclass
class Target:
    """One connection of one tenant, ready to deliver."""

    tenant: str
    name: str
    settings: TargetConnection
    connector: Any
    field_map: FieldMap
    kind: Kind
    scope: sa.ColumnElement[bool] | None
    client: httpx.AsyncClient
    rate: RateLimiter | None
    slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.settings.concurrency)

    @property
    def exports(self) -> bool:
        """True for file targets fed by a full export per run."""
        return hasattr(self.connector, "export")

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
    rate = settings.rate_limit
    return Target(
        tenant=tenant,
        name=name,
        settings=settings,
        connector=cls(setup),
        field_map=FieldMap.parse(dict(raw_map)),
        kind=kind,
        scope=compile_scope(kind, settings.scope, dialect),
        client=client,
        rate=RateLimiter(rate.requests, rate.per_seconds) if rate else None,
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
