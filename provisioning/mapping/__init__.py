"""A SCIM user in, a target's fields out (and a source's record in, a SCIM user out):
paths, transforms, field maps, read maps, scopes."""

from provisioning.mapping.documents import DocPath, parse_doc_path
from provisioning.mapping.fieldmap import FieldMap, MappingContext, payload_digest
from provisioning.mapping.readmap import ReadMap, source_value
from provisioning.mapping.scoping import compile_scope, in_scope

__all__ = [
    "DocPath",
    "FieldMap",
    "MappingContext",
    "ReadMap",
    "compile_scope",
    "in_scope",
    "parse_doc_path",
    "payload_digest",
    "source_value",
]
