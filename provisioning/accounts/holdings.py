"""How a target holds each resource type: its connector's calls and the words for it.

The delivery path (execution.py) is the same for users and groups: look up before
creating, adopt or recover what the lookup finds, create again what was removed in the
target. What differs is a row of this table: which connector methods a type calls, what
a lookup matches on, and how an admin reads the conflicts and audit notes. Every call goes
through the connection's throttle (:meth:`provisioning.targets.Target.call`).
"""

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.accounts.decisions import Step, Work, match_value
from provisioning.accounts.groups import GroupWork
from provisioning.connectors import DeliveryContext, GroupTarget, RemoteAccount
from provisioning.targets import Target

#: A claimed resource with the state read for it: a user's or a group's.
AnyWork = Work | GroupWork


@dataclass(frozen=True)
class Found:
    """What a lookup before a create returned, and what it matched on (for the words)."""

    accounts: list[RemoteAccount]
    key: str


@dataclass(frozen=True)
class Holding:
    """One resource type as a target holds it.

    Attributes:
        noun: what the target holds ("account", "group").
        owner: what scimgw calls the resource ("user", "group").
        many, taken, adopted: message templates; ``{n}``, ``{target}``, ``{key}``, ``{id}``.
        adopt_updates: whether an adopted resource is brought up to date on a create-only
            connection too (groups: their members are scimgw's to set).
        has_reports: whether other resources' maps may name this one as their manager
            (a new account queues its reports again; a group manages no one).
    """

    noun: str
    owner: str
    many: str
    taken: str
    adopted: str
    adopt_updates: bool
    has_reports: bool
    find: Callable[[Target, AnyWork], Awaitable[Found | None]]
    create: Callable[[Target, AnyWork, Step, DeliveryContext], Awaitable[RemoteAccount]]
    update: Callable[[Target, RemoteAccount, AnyWork, Step, DeliveryContext], Awaitable[Any]]
    delete: Callable[[Target, RemoteAccount, DeliveryContext], Awaitable[None]]
    #: The ``action`` its calls carry in their DeliveryContext.
    action: Callable[[Step], str]


# -- users ------------------------------------------------------------------------------


async def find_account(target: Target, work: AnyWork) -> Found | None:
    """The accounts matching the user's matching key; None when the target cannot look
    the key up or the user has no value for it."""
    key = target.settings.matching.key
    value = match_value(work.doc or {}, key)
    connector = target.accounts
    if not value or key not in connector.lookup_keys:
        return None
    return Found(await target.call(connector.find, key, value), key)


async def _create_account(
    target: Target, _: AnyWork, step: Step, context: DeliveryContext
) -> RemoteAccount:
    return await target.call(target.accounts.create, step.payload, context)


async def _update_account(
    target: Target, account: RemoteAccount, _: AnyWork, step: Step, context: DeliveryContext
) -> Any:
    return await target.call(target.accounts.update, account, step.payload, context)


async def _delete_account(target: Target, account: RemoteAccount, context: DeliveryContext) -> None:
    await target.call(target.accounts.delete, account, context)


# -- groups -----------------------------------------------------------------------------


def _group_target(target: Target) -> GroupTarget:
    groups = target.groups
    if groups is None:
        raise TypeError(f"{target.name} does not hold groups")
    return groups


def _members(work: AnyWork) -> Collection[str]:
    assert isinstance(work, GroupWork)
    return work.members


async def _find_group(target: Target, work: AnyWork) -> Found | None:
    name = str((work.doc or {}).get("displayName", ""))
    if not name:
        return Found([], "name")
    return Found(await target.call(_group_target(target).find_group, name), "name")


async def _create_group(
    target: Target, work: AnyWork, step: Step, context: DeliveryContext
) -> RemoteAccount:
    groups = _group_target(target)
    return await target.call(groups.create_group, step.payload, _members(work), context)


async def _update_group(
    target: Target, group: RemoteAccount, work: AnyWork, step: Step, context: DeliveryContext
) -> Any:
    groups = _group_target(target)
    return await target.call(groups.update_group, group, step.payload, _members(work), context)


async def _delete_group(target: Target, group: RemoteAccount, context: DeliveryContext) -> None:
    await target.call(_group_target(target).delete_group, group, context)


USERS = Holding(
    noun="account",
    owner="user",
    many="{n} accounts in {target} match this user's {key}",
    taken="an account with this user's {key} already exists in {target}",
    adopted="adopted existing account {id} matched by {key}",
    adopt_updates=False,
    has_reports=True,
    find=find_account,
    create=_create_account,
    update=_update_account,
    delete=_delete_account,
    action=lambda step: step.operation,
)

GROUPS = Holding(
    noun="group",
    owner="group",
    many="{n} groups in {target} are named like this group",
    taken="a group with this name already exists in {target}",
    adopted="adopted existing group {id} matched by name",
    adopt_updates=True,
    has_reports=False,
    find=_find_group,
    create=_create_group,
    update=_update_group,
    delete=_delete_group,
    # Connectors tell a group's calls from an account's by this action.
    action=lambda step: "group",
)

_BY_TYPE: Mapping[str, Holding] = {"User": USERS, "Group": GROUPS}


def holding(work: AnyWork) -> Holding:
    """The row of the table for ``work``'s resource type."""
    return _BY_TYPE[work.claim.resource_type]
