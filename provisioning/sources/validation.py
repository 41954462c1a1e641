"""``scimgw config check`` for source connections: what can be known before reading anyone.

The type names a source connector, its options are valid, the read map and the
authoritative paths parse, the scope is a filter of the tenant's users.
"""

from pydantic import ValidationError

from gateway.config import GatewayConfig, SourceSettings, TargetConnection
from gateway.scim.kinds import Kind, kinds_for
from provisioning.mapping import parse_doc_path
from provisioning.sources.people import PersonMapper
from provisioning.sources.registry import source_class, source_settings


def source_problems(config: GatewayConfig) -> list[str]:
    """Every problem of every source connection, as ``yaml.path: message`` lines."""
    found = []
    for tenant_id, tenant in config.tenants.items():
        kind = kinds_for(tenant.custom_field_spec(), sensitive_reader=True)["users"]
        for name, settings in tenant.connections.items():
            if settings.direction in ("source", "both"):
                path = f"tenants.{tenant_id}.connections.{name}"
                found.extend(connection_problems(path, settings, kind))
    return found


def connection_problems(path: str, settings: TargetConnection, kind: Kind) -> list[str]:
    """The problems of one source connection (``path`` is its YAML path)."""
    try:
        cls = source_class(settings.type)
    except ValueError as exc:
        return [f"{path}.type: {exc}"]
    problems: list[str] = []
    try:
        cls.options_model.model_validate(dict(settings.options))
    except ValidationError as exc:
        problems.extend(f"{path}.options: {error['msg']}" for error in exc.errors())
    try:
        source = source_settings(settings, cls)
    except ValidationError:  # the options' problems are reported above
        source = settings.source or SourceSettings()
    try:
        PersonMapper.build(source, cls.default_read_map, kind)
    except ValueError as exc:
        problems.append(f"{path}.source: {exc}")
    for text in source.authoritative or ():
        try:
            parse_doc_path(text)
        except ValueError as exc:
            problems.append(f"{path}.source.authoritative: {exc}")
    return problems
