"""The YAML file's schema: server, tenants, connections, outbound auth, secrets."""

from gateway.config.connection import (
    CircuitBreaker,
    DeletionGuard,
    SourceGuard,
    SourceSettings,
    TargetConnection,
)
from gateway.config.file import ConfigError, GatewayConfig, ServerConfig, load_config
from gateway.config.outbound_auth import (
    ApiKeyAuth,
    AuthSettings,
    BasicAuth,
    BearerAuth,
    MicrosoftIdentity,
    OAuth2ClientCredentials,
)
from gateway.config.schedule import RunReport, Schedule
from gateway.config.secrets import Secret

__all__ = [
    "ApiKeyAuth",
    "AuthSettings",
    "BasicAuth",
    "BearerAuth",
    "CircuitBreaker",
    "ConfigError",
    "DeletionGuard",
    "GatewayConfig",
    "MicrosoftIdentity",
    "OAuth2ClientCredentials",
    "RunReport",
    "Schedule",
    "Secret",
    "ServerConfig",
    "SourceGuard",
    "SourceSettings",
    "TargetConnection",
    "load_config",
]
