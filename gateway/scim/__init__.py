"""The SCIM 2.0 protocol layer: models, discovery, dialects, endpoints."""
