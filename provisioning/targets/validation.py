"""``scimgw config check``: everything about a configuration that can be known offline.

Pydantic has already checked shapes and resolved secrets (with YAML paths). This adds what
needs the engine's parts: the connector type exists, its options are valid, the field map
parses, and the scope is a filter the store can evaluate. Each problem names its YAML path.
"""

from pydantic import ValidationError

from gateway.config import GatewayConfig, TargetConnection
from gateway.errors import SCIMException
from gateway.scim.kinds import Kind, kinds_for
from provisioning.targets.assembly import build_target


async def problems(config: GatewayConfig, dialect: str = "sqlite") -> list[str]:
    """Every problem of every connection, as ``yaml.path: message`` lines."""
    found = []
    for tenant_id, tenant in config.tenants.items():
        kind = kinds_for(tenant.custom_field_spec(), sensitive_reader=True)["users"]
        for name, settings in tenant.connections.items():
            if settings.direction == "source":
                continue
            path = f"tenants.{tenant_id}.connections.{name}"
            found.extend(await _connection_problems(path, tenant_id, name, settings, kind, dialect))
    return found


async def _connection_problems(
    path: str, tenant_id: str, name: str, settings: TargetConnection, kind: Kind, dialect: str
) -> list[str]:
    try:
        target = build_target(tenant_id, name, settings, kind, dialect)
    except ValidationError as exc:
        return [_pydantic(path, "options", error) for error in exc.errors(include_url=False)]
    except SCIMException as exc:
        return [f"{path}.scope: {exc.detail or exc}"]
    except ValueError as exc:
        return [f"{path}.{_section(str(exc))}: {exc}"]
    await target.aclose()
    return []


def _pydantic(path: str, section: str, error: object) -> str:
    location = ".".join(str(part) for part in error["loc"])  # type: ignore[index]
    message = str(error["msg"]).removeprefix("Value error, ")  # type: ignore[index]
    return f"{path}.{section}.{location}: {message}" if location else f"{path}.{section}: {message}"


def _section(message: str) -> str:
    return "type" if message.startswith("unknown connection type") else "field_map"
