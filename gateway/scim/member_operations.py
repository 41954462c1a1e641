"""PATCH operations on ``Group.members``, applied to the membership table.

A group of 50,000 members must not be loaded as a model for each added member, so the
operations that address ``members`` are split off and turned into row inserts and deletes.
Every other operation goes through scim2-models' PATCH machinery on the group document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scim2_models import GroupMember, PatchOp, PatchOperation, ScimFilter
from scim2_models.path import CompareOperator, Comparison, LogicalExpr, LogicalOperator

from gateway.errors import InvalidValueException


@dataclass(frozen=True)
class MemberChange:
    """One change to the member set: add ids, remove ids (or a filter), or replace all."""

    op: str
    members: tuple[dict[str, Any], ...] = ()
    selector: str | None = None


def _targets_members(operation: PatchOperation[Any]) -> bool:
    path = str(operation.path or "")
    return path.lower().split("[", 1)[0].split(".", 1)[0] == "members"


def split(patch: PatchOp[Any]) -> tuple[list[MemberChange], list[PatchOperation[Any]]]:
    """Separate member changes from the operations on the rest of the group."""
    changes: list[MemberChange] = []
    others: list[PatchOperation[Any]] = []
    for operation in patch.operations or []:
        if _targets_members(operation):
            changes.append(_member_change(operation))
        elif operation.path is None and isinstance(operation.value, dict):
            value = dict(operation.value)
            members = _pop_members(value)
            if members is not None:
                op = "add" if operation.op == "add" else "replace"
                changes.append(MemberChange(op=op, members=tuple(_entries(members))))
            if value:
                others.append(operation.model_copy(update={"value": value}))
        else:
            others.append(operation)
    return changes, others


def _pop_members(value: dict[str, Any]) -> Any:
    for key in list(value):
        if key.lower() == "members":
            return value.pop(key)
    return None


def _member_change(operation: PatchOperation[Any]) -> MemberChange:
    path = str(operation.path)
    selector = path[path.index("[") + 1 : path.rindex("]")] if "[" in path else None
    if operation.op == "remove":
        # Entra ID sends `path: "members"` with the members to remove as the value.
        members = tuple(_entries(operation.value)) if operation.value else ()
        return MemberChange(op="remove", members=members, selector=selector)
    if selector is not None:
        raise InvalidValueException(
            detail="add and replace on members take the members as the value, not a filter"
        )
    return MemberChange(op=operation.op.value, members=tuple(_entries(operation.value)))


def _entries(value: Any) -> list[dict[str, Any]]:
    if value is None:  # null is unassigned (RFC 7643 §2.5): no members
        return []
    items = value if isinstance(value, list) else [value]
    entries = []
    for item in items:
        if hasattr(item, "model_dump"):
            item = item.model_dump(scim_ctx=None, by_alias=True, exclude_none=True)
        if not isinstance(item, dict) or not item.get("value"):
            raise InvalidValueException(detail="each member needs a value (the member's id)")
        entries.append(item)
    return entries


def selected_ids(selector: str, current: dict[str, str]) -> list[str]:
    """The current members a value filter such as ``value eq "id"`` selects."""
    # scim2-models bounds ScimFilter's parameter to Resource, but binds it to any model at
    # run time: a value filter is resolved against the complex attribute's own model.
    scim_filter = ScimFilter[GroupMember](selector)  # type: ignore[type-var]
    ids = _equality_ids(scim_filter.ast)
    if ids is not None:
        return [member_id for member_id in ids if member_id in current]
    return [
        member_id
        for member_id, member_type in current.items()
        if scim_filter.match(GroupMember(value=member_id, type=member_type))
    ]


def _equality_ids(node: Any) -> list[str] | None:
    """The ids of a filter made only of ``value eq`` joined by ``or``, else None."""
    if isinstance(node, Comparison):
        is_value_eq = node.attr_path.attr.lower() == "value" and node.op == CompareOperator.eq
        return [str(node.value)] if is_value_eq and not node.attr_path.sub_attr else None
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.or_:
        ids: list[str] = []
        for term in node.terms:
            term_ids = _equality_ids(term)
            if term_ids is None:
                return None
            ids.extend(term_ids)
        return ids
    return None
