"""Target connectors, one module per vendor or protocol, and their contract."""

from provisioning.connectors.base import ConnectorSetup, DeliveryContext, GroupTarget, RemoteAccount

__all__ = [
    "ConnectorSetup",
    "DeliveryContext",
    "GroupTarget",
    "RemoteAccount",
]
