"""A SCIM user in, a target's fields out: paths, transforms, field maps, scopes."""

from provisioning.mapping.fieldmap import FieldMap, MappingContext, payload_digest
from provisioning.mapping.scoping import compile_scope, in_scope

__all__ = [
    "FieldMap",
    "MappingContext",
    "compile_scope",
    "in_scope",
    "payload_digest",
]
