"""scimgw gateway: the SCIM 2.0 server, its store and its inbound authentication."""

__version__ = "0.1.0"
