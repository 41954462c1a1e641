"""Target and source connectors, one module per vendor or protocol, and their contracts."""

from provisioning.connectors.base import (
    ConnectorSetup,
    DeliveryContext,
    ExportConnector,
    GroupTarget,
    RemoteAccount,
    SourceConnector,
    SourcePage,
    TargetConnector,
)

__all__ = [
    "ConnectorSetup",
    "DeliveryContext",
    "ExportConnector",
    "GroupTarget",
    "RemoteAccount",
    "SourceConnector",
    "SourcePage",
    "TargetConnector",
]
