"""The generic SCIM 2.0 target: any app that serves RFC 7644 ``/Users`` (and ``/Groups``).

The field map's target fields are SCIM paths (``name.givenName``,
``emails[type eq "work"].value``, ``urn:...:enterprise:2.0:User:employeeNumber``), so the
default map is the identity on the common attributes. Documents are built by
:mod:`provisioning.connectors.scim_payload`; statuses become typed errors in
:func:`provisioning.responses.raise_for_status`, with SCIM ``Error`` bodies read as
``scimType: detail``.
"""

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

from provisioning.connectors import scim_payload as payloads
from provisioning.connectors.base import ConnectorSetup, DeliveryContext, RemoteAccount
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.errors import PermanentError
from provisioning.responses import default_message, read_json

__all__ = ["DEFAULT_FIELD_MAP", "ScimConnector", "ScimOptions", "read_scim_error"]

SCIM_JSON = "application/scim+json"
ACCEPT = f"{SCIM_JSON}, application/json"
ENTERPRISE = payloads.ENTERPRISE_USER
WORK_EMAIL = 'emails[type eq "work"].value'

#: Target path <- source path: the common attributes of RFC 7643 §4.1 and §4.3, unchanged,
#: and the manager as the target's own id for them (the ``manager`` transform).
DEFAULT_FIELD_MAP: Mapping[str, Any] = MappingProxyType(
    {
        **{
            path: path
            for path in (
                "userName",
                "externalId",
                "active",
                "displayName",
                "name.givenName",
                "name.familyName",
                "name.formatted",
                "nickName",
                "title",
                "preferredLanguage",
                "locale",
                "timezone",
                WORK_EMAIL,
                'phoneNumbers[type eq "work"].value',
                'phoneNumbers[type eq "mobile"].value',
                f"{ENTERPRISE}:employeeNumber",
                f"{ENTERPRISE}:department",
                f"{ENTERPRISE}:division",
                f"{ENTERPRISE}:organization",
                f"{ENTERPRISE}:costCenter",
            )
        },
        f"{ENTERPRISE}:manager.value": {"transform": [{"manager": "remote_id"}]},
    }
)

#: Matching key -> the attribute a filter compares (RFC 7644 §3.4.2.2).
LOOKUP_PATHS: Mapping[str, str] = MappingProxyType(
    {
        "userName": "userName",
        "externalId": "externalId",
        "email": WORK_EMAIL,
        "employeeNumber": f"{ENTERPRISE}:employeeNumber",
    }
)


class ScimOptions(BaseModel):
    """The ``options:`` of a ``type: scim`` connection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``patch`` sends only the mapped attributes; ``put`` reads the user and replaces it.
    update_method: Literal["patch", "put"] = "patch"
    #: ``paths``: one replace per path (Entra's form); ``value``: one path-less replace
    #: whose value holds every attribute (Okta's form; replaces multi-valued attributes).
    patch_style: Literal["paths", "value"] = "paths"
    #: ``patch_active`` sets ``active: false``; ``delete`` removes the account.
    deactivate_with: Literal["patch_active", "delete"] = "patch_active"
    #: ``work`` finds by ``emails[type eq "work" and value eq ...]``; ``any`` by
    #: ``emails.value eq ...``, for targets that support only that form.
    email_lookup: Literal["work", "any"] = "work"
    #: Extension schema URNs listed on every user sent, even with no attribute mapped.
    user_schemas: tuple[str, ...] = ()
    #: Whether the engine sends group changes here (see GroupTarget).
    groups: bool = False


def read_scim_error(response: httpx.Response) -> str | None:
    """``scimType: detail`` of a SCIM Error body (RFC 7644 §3.12), else the generic reading."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("detail") or body.get("scimType")):
        parts = (body.get("scimType"), body.get("detail"))
        return ": ".join(str(part) for part in parts if part)
    return default_message(response)


#: How a SCIM 2.0 service provider answers (RFC 7644 §3.12 ``Error`` bodies, §8.1 media type).
PROFILE = ApiProfile(
    vendor="the target",
    read_message=read_scim_error,
    headers={"Accept": ACCEPT},
    body_type=SCIM_JSON,
)


class ScimConnector:
    """A SCIM 2.0 service provider as a provisioning target.

    Args:
        setup: ``base_url`` is the SCIM root (``https://app.example/scim/v2``); ``http``
            carries the auth; ``options`` are validated by :class:`ScimOptions`.
    """

    type: ClassVar[str] = "scim"
    default_field_map: ClassVar[Mapping[str, Any]] = DEFAULT_FIELD_MAP
    default_group_field_map: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"displayName": "displayName", "externalId": "externalId"}
    )
    lookup_keys: ClassVar[tuple[str, ...]] = tuple(LOOKUP_PATHS)

    def __init__(self, setup: ConnectorSetup) -> None:
        self.options = ScimOptions.model_validate(dict(setup.options))
        self._api = ApiClient(setup.http, setup.base_url, PROFILE)

    @property
    def manages_groups(self) -> bool:
        """Whether the engine should send group changes (``options.groups``)."""
        return self.options.groups

    @property
    def _patches(self) -> bool:
        return self.options.update_method == "patch"

    # -- users -------------------------------------------------------------------------

    async def check(self) -> None:
        """Read ``/ServiceProviderConfig``; raise AuthError on 401/403.

        Raises PermanentError if the answer is not a SCIM configuration, or if it says
        PATCH is unsupported while ``update_method`` is ``patch``.
        """
        config = _json(await self._api.call("GET", "/ServiceProviderConfig"))
        if not isinstance(config, dict) or "schemas" not in config:
            raise PermanentError(
                f"{self._api.base} is not a SCIM 2.0 root (no ServiceProviderConfig)"
            )
        patch = config.get("patch")
        if isinstance(patch, dict) and patch.get("supported") is False and self._patches:
            raise PermanentError("the target does not support PATCH: set update_method: put")

    async def find(self, key: str, value: str) -> list[RemoteAccount]:
        """Users whose ``key`` equals ``value``; results the filter should not match are dropped.

        The check after the query guards against servers that ignore a filter they do not
        support and answer with every user, which would link the wrong account.
        """
        path = self._lookup_path(key)
        return await self._search("/Users", path, value)

    async def create(self, payload: Mapping[str, Any], context: DeliveryContext) -> RemoteAccount:
        """POST the user; a uniqueness clash (409) is a ConflictError."""
        document = payloads.build(payload, schemas=self.options.user_schemas)
        response = await self._api.call("POST", "/Users", document)
        return _account(_json(response), context="created user")

    async def update(
        self, account: RemoteAccount, payload: Mapping[str, Any], context: DeliveryContext
    ) -> RemoteAccount:
        """PATCH the mapped attributes, or GET, overlay and PUT (``update_method``).

        A 404 is a PermanentError saying the remote account is gone, so the engine
        re-links or re-creates it.
        """
        if not self._patches:
            return await self._replace("/Users", account, payload, payloads.CORE_USER)
        return await self._patch("/Users", account, self._operations(payload))

    async def deactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Set ``active: false`` (as ``update`` would), or DELETE per ``deactivate_with``.

        An account already gone (404) has no access left, so that is success too.
        """
        if self.options.deactivate_with == "delete":
            await self.delete(account, context)
        elif self._patches:
            operations = self._operations({"active": False})
            await self._patch("/Users", account, operations, missing_ok=True)
        else:
            await self._replace("/Users", account, {"active": False}, payloads.CORE_USER)

    async def reactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """Set ``active: true``; a deleted account is gone (PermanentError, 404)."""
        await self.update(account, {"active": True}, context)

    async def delete(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """DELETE the user; one already gone (404) counts as deleted."""
        await self._delete("/Users", account)

    # -- groups (GroupTarget) ------------------------------------------------------------

    async def find_group(self, display_name: str) -> list[RemoteAccount]:
        """Groups named ``display_name`` (compared case-insensitively)."""
        return await self._search("/Groups", "displayName", display_name)

    async def create_group(
        self, payload: Mapping[str, Any], members: Collection[str], context: DeliveryContext
    ) -> RemoteAccount:
        """POST the group with its members (remote user ids)."""
        document = payloads.build(payload, core=payloads.CORE_GROUP)
        document["members"] = [{"value": member} for member in members]
        response = await self._api.call("POST", "/Groups", document)
        return _account(_json(response), context="created group")

    async def update_group(
        self,
        group: RemoteAccount,
        payload: Mapping[str, Any],
        members: Collection[str] | None,
        context: DeliveryContext,
    ) -> RemoteAccount:
        """Bring the group to ``payload`` and, unless None, exactly ``members``.

        With PATCH, members are added and removed by difference with the remote list,
        so a large group is not re-sent whole.
        """
        if not self._patches:
            extra = {} if members is None else {"members": [{"value": m} for m in members]}
            return await self._replace("/Groups", group, payload, payloads.CORE_GROUP, extra)
        operations = self._operations(payload)
        if members is not None:
            current = await self._member_ids(group)
            operations += payloads.membership_operations(current, members)
        if not operations:
            return group
        return await self._patch("/Groups", group, operations)

    async def delete_group(self, group: RemoteAccount, context: DeliveryContext) -> None:
        """DELETE the group; one already gone (404) counts as deleted."""
        await self._delete("/Groups", group)

    # -- HTTP ----------------------------------------------------------------------------

    def _lookup_path(self, key: str) -> str:
        if key not in LOOKUP_PATHS:
            raise PermanentError(f"the SCIM target cannot look users up by {key!r}")
        if key == "email" and self.options.email_lookup == "any":
            return "emails.value"
        return LOOKUP_PATHS[key]

    def _operations(self, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.options.patch_style == "value":
            return payloads.value_operations(payload)
        return payloads.path_operations(payload)

    async def _search(self, collection: str, path: str, value: str) -> list[RemoteAccount]:
        scim_filter = payloads.equality_filter(path, value)
        response = await self._api.call("GET", collection, params={"filter": scim_filter})
        found = payloads.resources(_json(response))
        return [_account(item) for item in found if payloads.matches(item, path, value)]

    async def _patch(
        self,
        collection: str,
        account: RemoteAccount,
        operations: list[dict[str, Any]],
        *,
        missing_ok: bool = False,
    ) -> RemoteAccount:
        path, body = _item(collection, account), payloads.patch_request(operations)
        gone = None if missing_ok else account
        response = await self._api.call("PATCH", path, body, gone=gone, missing_ok=missing_ok)
        # RFC 7644 §3.5.2: a server may answer 204 without the resource.
        if response.status_code in (204, 404) or not response.content:
            return RemoteAccount(id=account.id, active=account.active)
        return _account(_json(response), context="patched resource")

    async def _replace(
        self,
        collection: str,
        account: RemoteAccount,
        payload: Mapping[str, Any],
        core: str,
        extra: Mapping[str, Any] | None = None,
    ) -> RemoteAccount:
        """GET the resource, lay the payload over it and PUT it back.

        Attributes the field map does not cover keep the target's values instead of
        being cleared, as a PUT of the mapped attributes alone would do.
        """
        path = _item(collection, account)
        current = _json(await self._api.call("GET", path, gone=account))
        schemas = self.options.user_schemas if core == payloads.CORE_USER else ()
        document = payloads.build(payload, base=current, core=core, schemas=schemas)
        for name, value in (extra or {}).items():
            payloads.set_attr(document, name, value)
        for read_only in ("meta", "groups") if core == payloads.CORE_USER else ("meta",):
            payloads.pop_attr(document, read_only)
        response = await self._api.call("PUT", path, document, gone=account)
        return _account(_json(response), context="replaced resource")

    async def _delete(self, collection: str, account: RemoteAccount) -> None:
        await self._api.call("DELETE", _item(collection, account), missing_ok=True)

    async def _member_ids(self, group: RemoteAccount) -> list[str]:
        path, params = _item("/Groups", group), {"attributes": "members"}
        response = await self._api.call("GET", path, params=params, gone=group)
        return payloads.member_ids(_json(response))


def _json(response: httpx.Response) -> Any:
    return read_json(response, "the target")


def _item(collection: str, account: RemoteAccount) -> str:
    # The id comes from the target; quoting keeps it one path segment.
    return f"{collection}/{quote(account.id, safe='')}"


def _account(resource: Any, context: str = "resource") -> RemoteAccount:
    if not isinstance(resource, dict) or not resource.get("id"):
        raise PermanentError(f"the target's {context} has no id")
    active = payloads.active_flag(resource)
    return RemoteAccount(id=str(resource["id"]), active=active, fields=resource)
