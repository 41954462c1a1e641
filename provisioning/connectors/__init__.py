"""Target connectors, one module per vendor or protocol, and their contract."""

from provisioning.connectors.base import (
    ConnectorSetup,
    DeliveryContext,
    ExportConnector,
    GroupTarget,
    RemoteAccount,
    TargetConnector,
)

__all__ = [
    "ConnectorSetup",
    "DeliveryContext",
    "ExportConnector",
    "GroupTarget",
    "RemoteAccount",
    "TargetConnector",
]
