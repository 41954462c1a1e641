"""The YAML configuration: server limits, tenants, inbound JWT issuers, connections.

The file says *what* exists; runtime state (token hashes, links, deliveries) lives in the
database. Connections are declared here already so that the outbox knows whom a change
concerns; the provisioning engine reads the rest of their settings.
"""

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.config.bulk_upload import BulkUploadSettings
from gateway.config.connection import TargetConnection
from gateway.config.secrets import UNRESOLVED
from gateway.configfile import parse_yaml


class ConfigError(ValueError):
    """The configuration file is missing or invalid; the message names the YAML path."""


class StrictModel(BaseModel):
    # hide_input_in_errors: a secret pasted as a literal must not be echoed by an error.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class ServerConfig(StrictModel):
    """Limits the SCIM server advertises in /ServiceProviderConfig and enforces."""

    bulk_max_operations: int = Field(1000, ge=1)
    bulk_max_payload_size: int = Field(1_048_576, ge=1024)
    max_request_size: int = Field(1_048_576, ge=1024, description="non-Bulk bodies")
    max_results: int = Field(1000, ge=1, description="largest page a list returns")
    default_count: int = Field(100, ge=1)
    #: How long a validated static token is trusted without a database lookup; a token
    #: revoked from another process stops working within this many seconds.
    token_cache_seconds: float = Field(5.0, ge=0, le=300)
    #: Comparisons and ``pr`` tests in one filter (RFC 7644 §3.4.2.2); more is 400
    #: invalidFilter. The default admits a 1,000-clause chain of ``userName eq``.
    max_filter_clauses: int = Field(1000, ge=1)
    #: Operators nested in one another in one filter (``and``/``or`` groups, ``not``,
    #: value filters); more is 400 invalidFilter. scim2-models parses at most 32.
    max_filter_depth: int = Field(10, ge=1, le=32)
    #: Request bounds (gateway/scim/limits.py; docs/scim.md, "Limits"): what one request
    #: may ask of the server, so that no request stalls the others.
    max_values: int = Field(100, ge=1, description="values per multi-valued attribute")
    max_string_length: int = Field(4096, ge=300, description="strings without a column")
    max_attribute_names: int = Field(50, ge=1, description="names in attributes=")
    bulk_max_depth: int = Field(100, ge=1, description="bulkId reference chain length")


class JWTConfig(StrictModel):
    """An OAuth2 authorization server whose access tokens this tenant accepts."""

    issuer: str
    audience: str
    jwks_url: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    #: Scopes a valid token of this issuer is granted; a token's own ``scp``/``scope``/
    #: ``roles`` claims add to them only when they name scimgw scopes.
    scopes: tuple[str, ...] = ("scim:read", "scim:write")


_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

CustomFieldType = Literal["string", "boolean", "integer", "decimal", "dateTime"]


class TenantConfig(StrictModel):
    display_name: str = ""
    jwt: JWTConfig | None = None
    #: The tenant's free HR fields, published under the HR extension's ``customFields``:
    #: name (kept exactly, case-sensitive) -> SCIM type.
    custom_fields: dict[str, CustomFieldType] = Field(default_factory=dict)
    connections: dict[str, TargetConnection] = Field(default_factory=dict)
    #: Refuse attributes and schema extensions no schema declares (400), as §5.3 of the
    #: SCIM interoperability profile asks; by default they are ignored and the write's
    #: audit entry names them, since real IdPs send them (docs/scim.md).
    strict_input: bool = False
    #: ``POST /scim/v2/bulkUpload``, shaped like Entra's (docs/inbound-entra.md).
    bulk_upload: BulkUploadSettings = Field(default_factory=BulkUploadSettings)

    @field_validator("custom_fields")
    @classmethod
    def _distinct_names(cls, fields: dict[str, str]) -> dict[str, str]:
        # SCIM attribute names are case-insensitive (RFC 7643 §2.1).
        folded = [name.lower() for name in fields]
        clashes = sorted({name for name in fields if folded.count(name.lower()) > 1})
        if clashes:
            raise ValueError(f"names differing only in case: {', '.join(clashes)}")
        invalid = [name for name in fields if not _ATTRIBUTE_NAME.fullmatch(name)]
        if invalid:
            raise ValueError(f"not SCIM attribute names (RFC 7643 §2.1): {', '.join(invalid)}")
        return fields

    def custom_field_spec(self) -> tuple[tuple[str, str], ...]:
        return tuple(self.custom_fields.items())

    def enabled_targets(self) -> tuple[str, ...]:
        """Names of the connections every change to this tenant fans out to."""
        return tuple(
            name
            for name, connection in self.connections.items()
            if connection.enabled and connection.direction in ("target", "both")
        )


class GatewayConfig(StrictModel):
    server: ServerConfig = Field(default_factory=ServerConfig)
    default_tenant: str = "default"
    tenants: dict[str, TenantConfig] = Field(default_factory=lambda: {"default": TenantConfig()})

    def tenant(self, tenant_id: str) -> TenantConfig:
        """The tenant's configuration; a tenant created only by the CLI has the defaults."""
        return self.tenants.get(tenant_id) or TenantConfig()


def parse_config(data: dict[str, Any] | None, *, resolve_secrets: bool = True) -> GatewayConfig:
    """Validate a configuration mapping, naming the YAML path of the first errors.

    With ``resolve_secrets=False`` secret fields must still be references, but their
    variables and files are not read: for commands that never use a secret (``status``).
    """
    context = None if resolve_secrets else {UNRESOLVED: True}
    try:
        return GatewayConfig.model_validate(data or {}, context=context)
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors(include_url=False)]
        raise ConfigError("; ".join(problems)) from None


def _describe(error: Any) -> str:
    """``tenants.acme.connections.lms.auth.client_secret: environment variable X is not set``."""
    # A discriminated union adds the chosen tag to the location; the YAML has no such key.
    location = [str(part) for part in error["loc"] if not _is_union_tag(part)]
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{'.'.join(location)}: {message}"


def _is_union_tag(part: Any) -> bool:
    return part in _AUTH_TAGS


_AUTH_TAGS = {"api_key", "basic", "bearer", "oauth2_client_credentials", "microsoft"}


def load_config(path: str | Path | None, *, resolve_secrets: bool = True) -> GatewayConfig:
    """Read and validate the YAML file at ``path``; no path means the defaults."""
    if path is None:
        return GatewayConfig()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    try:
        data = parse_yaml(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, found {type(data).__name__}")
    return parse_config(data, resolve_secrets=resolve_secrets)
