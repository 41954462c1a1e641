"""SCIM filters (RFC 7644 §3.4.2.2) and ``sortBy`` (§3.4.2.3) compiled to SQLAlchemy.

scim2-models parses the expression and binds every attribute to the kind's model; this
package decides where each attribute lives and compiles a whitelist of node types. Where::

    kind.indexed        a column (folded or exact)   userName, externalId, meta.created
    _COMPUTED           an expression on the row     meta.resourceType, meta.version
    _RELATIONS          the membership table         Group members, User groups
    anything else       the JSON document            name.givenName, emails, extensions,
                                                     the HR extension's customFields.<name>

A dict-typed attribute is a free map: ``map.key`` reads the document and is typed by the
operand (``eq 3`` matches the number 3, not the string "3"). Declared custom fields are
ordinary typed sub-attributes.

Semantics chosen where the RFC is silent (``ne``, ``pr``, null, case) are those of
:mod:`gateway.store.comparison`, which the Python evaluators of provisioning read too; they
are also those of ``ScimFilter.match`` of scim2-models, so an in-memory store agrees.

The package, one noun per module, in the order of a compilation: ``compilation`` (the
entry points), ``syntax`` (a quick reader giving scim2-models' tree), ``shape`` (what
decides a statement), ``compiler`` (the tree walk),
``scopes`` (its roles), ``document`` and ``multivalued`` (where attributes live),
``slots`` (one compared value), ``operands`` (the values compared), ``context`` and
``refusals``. Only the names below are for use outside it.
"""

from gateway.store.filters.compilation import (
    CompiledFilter,
    compile_filter,
    compile_parsed,
    compile_sort,
    parse_filter,
)
from gateway.store.filters.shape import filter_shape

__all__ = [
    "CompiledFilter",
    "compile_filter",
    "compile_parsed",
    "compile_sort",
    "filter_shape",
    "parse_filter",
]
