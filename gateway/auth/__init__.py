"""Authentication of inbound SCIM clients."""
