"""TalentLMS (API v1) target: users signed up, edited and (de)activated by the v1 API.

Behaviour (path-segment arguments, form bodies, the generated password, custom fields by
exact name, the ``/ratelimit`` wait), sources ([V]/[I]/[A]) and limits:
``docs/connectors/talentlms.md``; every vendor fact is in the block below.
"""

import secrets
import string
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import Field

from provisioning.connectors import catalog
from provisioning.connectors.base import (
    ConnectorOptions,
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
)
from provisioning.connectors.catalog import Catalog, Catalogs
from provisioning.connectors.fields import as_text
from provisioning.connectors.messages import ErrorBody
from provisioning.connectors.paging import Whole
from provisioning.connectors.profile import ApiClient, ApiProfile
from provisioning.connectors.resource import matching
from provisioning.errors import (
    DeliveryError,
    MappingError,
    PermanentError,
    RateLimited,
    TargetConfigError,
)

__all__ = ["DEFAULT_FIELD_MAP", "TalentLmsConnector", "TalentLmsOptions", "read_talentlms_error"]

# -- vendor facts (target-apis.md §2a) ------------------------------------------------------
#: GET /users/email:{e} | /users/username:{login} | /users/id:{id}; GET /users lists every
#: user in one answer (abridged: no custom fields) [V]: v1 has no paging.
USERS = "users"
SIGNUP = "usersignup"  # POST, form-encoded
EDIT = "edituser"  # POST, form-encoded, with user_id
SET_STATUS = "usersetstatus"  # GET /usersetstatus/user_id:{id},status:active|inactive
DELETE = "deleteuser"  # POST user_id, permanent=yes|no
CUSTOM_FIELDS = "getcustomregistrationfields"  # GET: [{key, type, name, ...}]
BRANCHES = "branches"  # GET /branches/id:{id}
ADD_TO_BRANCH = "addusertobranch"  # GET /addusertobranch/user_id:{id},branch_id:{id}
#: [V] GET -> {"limit", "remaining", "reset" (unix seconds), "formatted_reset"}: the plan's
#: API quota. Read only after a 429: v1 sends no rate-limit headers [I]; reading it does not
#: spend the quota [A].
RATE_LIMIT = "ratelimit"
#: [V] 200 calls per 5 seconds: a 429 with quota left waits out that window. That the
#: throttle status is 429 is [A] (v2 documents it; v1 documents no status).
BURST_SECONDS = 5.0
#: Matching key -> the ``/users/<arg>:<value>`` lookup and the user field it compares.
LOOKUPS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {"email": ("email", "email"), "userName": ("username", "login")}
)
#: ``usersignup`` requires these (and ``password``) [V].
SIGNUP_REQUIRED = ("first_name", "last_name", "email", "login")
#: Fields ``usersignup`` takes besides ``custom_field_N`` [V]; the last three [I] (clients of
#: the v1 PDF document them as optional signup fields).
SIGNUP_FIELDS = frozenset({*SIGNUP_REQUIRED, "restrict_email", "user_type", "language"})
#: Fields ``edituser`` takes besides ``user_id`` and ``custom_field_N`` [V];
#: ``restrict_email`` and ``deactivation_date`` [I] as above. Language and user type are
#: not among them, so they are set at signup only.
EDIT_FIELDS = frozenset(
    {*SIGNUP_REQUIRED, "restrict_email", "bio", "timezone", "credits", "deactivation_date"}
)
#: Error messages of the uniqueness clashes [V py-talentlms exceptions.py]; status 400 [A].
DUPLICATE_MESSAGES = frozenset(
    {
        "A user with the same email address already exists",
        "A user with the same login already exists",
    }
)
ALREADY_IN_BRANCH = "The requested user is already a member of this branch"  # [V] message
#: [A] A missing user or branch is answered 404; email and login compare case-insensitively
#: (lookups are re-checked with ``casefold`` anyway); user objects carry their
#: ``custom_field_N`` values.
#: Custom registration field types [V ``getcustomregistrationfields``: text, dropdown...].
CustomFieldType = Literal["text", "dropdown", "checkbox", "date"]
#: Password rule [V, from the vendor's "not strong enough" message]: an upper and a lower
#: case letter, a digit, at least 8 characters. We send 24.
PASSWORD_LENGTH = 24
#: A one-time autologin URL in the user object: a credential, never kept in RemoteAccount.
SECRET_USER_FIELDS = ("login_key",)
#: Booleans as v1 form values (``restrict_email``, checkbox custom fields) [I Trifoia SDK].
FORM_BOOLEANS = {True: "on", False: "off"}
#: Custom user fields are sent as their ``key`` (``custom_field_N``), found by exact name.
CUSTOM_FIELD_CATALOG = Catalog(
    noun="custom user field",
    path=f"/{CUSTOM_FIELDS}",
    key="key",
    kind="type",
    exact=True,
    fix="create it in the portal or fix options.custom_fields",
    setting="options.custom_fields",
)
#: A payload value as a v1 form field.
form_value = as_text("TalentLMS", FORM_BOOLEANS[True], FORM_BOOLEANS[False])

#: Target field <- SCIM path (S2.3 defaults: first and last name, email, language).
DEFAULT_FIELD_MAP: Mapping[str, Any] = MappingProxyType(
    {
        "first_name": "name.givenName",
        "last_name": "name.familyName",
        "email": {"from": ['emails[type eq "work"].value', "emails[primary eq true].value"]},
        "login": "userName",
        # TalentLMS language codes are ISO 639-1 ("en"); SCIM tags may carry a region.
        "language": {
            "from": ["hr:language", "preferredLanguage"],
            "transform": [{"split": "-"}, "lower"],
        },
    }
)


class TalentLmsOptions(ConnectorOptions):
    """The ``options:`` of a ``type: talentlms`` connection."""

    #: Branch new users join (S2.1); None leaves branch membership alone.
    branch_id: int | None = Field(None, ge=1)
    #: Custom user field name (exact, case-sensitive, as in the portal) -> its type. The
    #: field map sends them under these names; the connector turns them into ``custom_field_N``.
    custom_fields: dict[str, CustomFieldType] = Field(default_factory=dict)
    #: ``delete`` removes the user for good (``permanent=yes``) rather than soft-deleting.
    delete_permanently: bool = False


#: ``error.message`` of a v1 error body ``{"error": {"type", "message"}}`` [V].
read_talentlms_error = ErrorBody(message=(("error", "message"),))


def _is_duplicate(response: httpx.Response) -> bool:
    return read_talentlms_error(response) in DUPLICATE_MESSAGES


def _already_in_branch(response: httpx.Response) -> bool:
    return read_talentlms_error(response) == ALREADY_IN_BRANCH


#: How TalentLMS v1 answers: ``error.message``, and its duplicate messages as conflicts.
PROFILE = ApiProfile(
    vendor="TalentLMS",
    read_message=read_talentlms_error,
    is_conflict=_is_duplicate,
    gone="the TalentLMS user {id}",
    paging=Whole(),
)


def resolve_custom_fields(wanted: Mapping[str, str], definitions: Any) -> dict[str, str]:
    """Configured name -> ``custom_field_N``; TargetConfigError naming a missing or mistyped one.

    Retryable: an admin may create or fix the field in the portal, and the next attempt
    reads the definitions again.
    """
    items = definitions if isinstance(definitions, list) else []
    entries = catalog.table(CUSTOM_FIELD_CATALOG, items, PROFILE.vendor)
    return {
        name: str(catalog.pick(CUSTOM_FIELD_CATALOG, entries, name, PROFILE.vendor, kind)["key"])
        for name, kind in wanted.items()
    }


class TalentLmsConnector:
    """A TalentLMS portal as a provisioning target (API v1).

    Args:
        setup: ``base_url`` is the API root (``.../api/v1``); ``http`` carries the basic
            auth; ``options`` are validated by :class:`TalentLmsOptions`.
    """

    # Before ``type``, which shadows the builtin in the class body.
    type: ClassVar[str] = "talentlms"
    default_field_map: ClassVar[Mapping[str, Any]] = DEFAULT_FIELD_MAP
    lookup_keys: ClassVar[tuple[str, ...]] = tuple(LOOKUPS)

    def __init__(self, setup: ConnectorSetup, *, now: Callable[[], float] = time.time) -> None:
        self.options = TalentLmsOptions.model_validate(dict(setup.options))
        # /ratelimit is read without the hook: a throttled read of it falls back to the window.
        self._quota = ApiClient(setup.http, setup.base_url, PROFILE)
        self._api = ApiClient(setup.http, setup.base_url, PROFILE, on_throttle=self._throttled)
        self._now = now  # unix seconds, to turn /ratelimit's reset into a wait
        self._catalogs = Catalogs(self._api)  # custom field definitions, read again on a miss

    async def check(self) -> None:
        """Read the custom field definitions (proving the key) and the branch, if any.

        Raises AuthError for a bad key, TargetConfigError for a configured custom field or
        branch the portal lacks.
        """
        entries = await self._catalogs.reload(CUSTOM_FIELD_CATALOG)
        for name, kind in self.options.custom_fields.items():
            catalog.pick(CUSTOM_FIELD_CATALOG, entries, name, PROFILE.vendor, kind)
        branch = self.options.branch_id
        if branch is not None:
            response = await self._get(BRANCHES, {"id": branch}, missing_ok=True)
            if response.status_code == 404:
                raise TargetConfigError(f"TalentLMS has no branch with id {branch}")

    async def find(self, key: str, value: str) -> list[RemoteAccount]:
        """The user whose email or login (``userName``) equals ``value`` case-insensitively."""
        if key not in LOOKUPS:
            raise PermanentError(f"TalentLMS cannot look users up by {key!r}")
        argument, field = LOOKUPS[key]
        response = await self._get(USERS, {argument: value}, missing_ok=True)
        if response.status_code == 404:  # "The requested user does not exist"
            return []
        body = self._api.json(response)
        users = [
            user for user in (body if isinstance(body, list) else [body]) if isinstance(user, dict)
        ]
        return [_account(user) for user in await matching(users, field, value)]

    async def create(self, payload: Mapping[str, Any], context: DeliveryContext) -> RemoteAccount:
        """Sign the user up with a generated password, in the configured branch.

        Fields ``usersignup`` does not take (bio, timezone...) follow in one ``edituser``.
        A duplicate email or login is a ConflictError carrying the vendor's message.
        """
        fields = await self._form_fields(payload)
        missing = [name for name in SIGNUP_REQUIRED if not fields.get(name)]
        if missing:
            raise MappingError(
                f"TalentLMS signup needs {', '.join(SIGNUP_REQUIRED)}; "
                f"the field map gave no value for {', '.join(missing)}"
            )
        signup = {k: v for k, v in fields.items() if k in SIGNUP_FIELDS or _is_custom(k)}
        if self.options.branch_id is not None:
            signup["branch_id"] = str(self.options.branch_id)
        account = _account(
            self._api.json(await self._post(SIGNUP, {**signup, "password": _password()}))
        )
        later = {k: v for k, v in fields.items() if k not in signup}
        if later:
            await self._post(EDIT, {"user_id": account.id, **later}, gone=account)
        return account

    async def update(
        self, account: RemoteAccount, payload: Mapping[str, Any], context: DeliveryContext
    ) -> RemoteAccount:
        """``edituser`` with the fields it takes; language and user type are signup-only.

        An account found by a lookup (its ``branches`` known) and missing from the
        configured branch is added to it, which heals a signup whose answer was lost.
        A user gone from the portal is a PermanentError (404) so the engine re-links.
        """
        fields = await self._form_fields(payload)
        edit = {k: v for k, v in fields.items() if k in EDIT_FIELDS or _is_custom(k)}
        result = account
        if edit:
            user = self._api.json(
                await self._post(EDIT, {"user_id": account.id, **edit}, gone=account)
            )
            result = _account(user) if isinstance(user, dict) and user.get("id") else account
        await self._join_branch(account)
        return result

    async def deactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """``usersetstatus`` to ``inactive``; a user gone from the portal has no access left."""
        await self._get(SET_STATUS, {"user_id": account.id, "status": "inactive"}, missing_ok=True)

    async def reactivate(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """``usersetstatus`` to ``active``; a deleted user is gone (PermanentError, 404)."""
        await self._get(SET_STATUS, {"user_id": account.id, "status": "active"}, gone=account)

    async def delete(self, account: RemoteAccount, context: DeliveryContext) -> None:
        """``deleteuser`` (``permanent`` per the options); a missing user counts as deleted."""
        permanent = "yes" if self.options.delete_permanently else "no"
        await self._post(DELETE, {"user_id": account.id, "permanent": permanent}, missing_ok=True)

    # -- fields --------------------------------------------------------------------------

    async def _form_fields(self, payload: Mapping[str, Any]) -> dict[str, str]:
        """The payload as v1 form fields, custom field names turned into their keys."""
        if "password" in payload:
            raise MappingError("password: the connector generates it; remove it from the field map")
        custom = self.options.custom_fields
        unknown = sorted(
            k for k in payload if k not in custom and k not in SIGNUP_FIELDS | EDIT_FIELDS
        )
        if unknown:
            raise MappingError(
                f"TalentLMS users have no field {', '.join(unknown)}; custom fields must be "
                "declared under options.custom_fields"
            )
        wanted = custom if any(k in custom for k in payload) else {}
        keys = {
            name: str(await self._catalogs.key(CUSTOM_FIELD_CATALOG, name, kind))
            for name, kind in wanted.items()
        }
        return {keys.get(name, name): form_value(name, value) for name, value in payload.items()}

    async def _join_branch(self, account: RemoteAccount) -> None:
        branch = self.options.branch_id
        known = account.fields.get("branches")
        if branch is None or not isinstance(known, list):
            return
        if any(isinstance(b, dict) and str(b.get("id")) == str(branch) for b in known):
            return
        args = {"user_id": account.id, "branch_id": branch}
        await self._get(ADD_TO_BRANCH, args, tolerate=_already_in_branch)

    # -- HTTP ----------------------------------------------------------------------------

    async def _get(
        self, action: str, args: Mapping[str, Any] | None = None, **how: Any
    ) -> httpx.Response:
        """``GET /{action}/{arg}:{value},...``; ``how`` as for ``ApiClient.call``."""
        path = f"/{action}"
        if args:
            path += "/" + ",".join(f"{k}:{quote(str(v), safe='@')}" for k, v in args.items())
        return await self._api.call("GET", path, label=action, **how)

    async def _post(self, action: str, form: Mapping[str, str], **how: Any) -> httpx.Response:
        # data= makes httpx send application/x-www-form-urlencoded, which v1 requires.
        return await self._api.call("POST", f"/{action}", data=dict(form), label=action, **how)

    async def _throttled(self, exc: RateLimited) -> RateLimited:
        """The wait of a throttle without ``Retry-After``: until the quota's reset when
        ``/ratelimit`` says it is spent, else the 5-second window (also when ``/ratelimit``
        cannot be read)."""
        try:
            response = await self._quota.call("GET", f"/{RATE_LIMIT}")
            quota = response.json()
        except (DeliveryError, ValueError):
            quota = None
        spent = _spent_quota(quota)
        if spent is None:
            message = f"{exc.message} (at most 200 calls per 5 seconds)"
            return RateLimited(message, status=exc.status, retry_after=BURST_SECONDS)
        reset, until = spent
        message = f"{exc.message}: the plan's API quota is used up until {until}"
        wait = max(BURST_SECONDS, reset - self._now())
        return RateLimited(message, status=exc.status, retry_after=wait)


def _spent_quota(quota: Any) -> tuple[float, str] | None:
    """``/ratelimit``'s reset (unix seconds, and as the portal words it) when no call
    remains, else None."""
    if not isinstance(quota, dict):
        return None
    try:
        remaining, reset = int(quota["remaining"]), float(quota["reset"])
    except (KeyError, TypeError, ValueError):
        return None
    if remaining > 0:
        return None
    return reset, str(quota.get("formatted_reset") or int(reset))


def _is_custom(name: str) -> bool:
    return name.startswith("custom_field_")


def _password() -> str:
    """A fresh random password meeting the vendor's rule (one of each class, 8+ characters)."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits)
    alphabet = "".join(classes)
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(PASSWORD_LENGTH))
        if all(any(c in chars for c in candidate) for chars in classes):
            return candidate


def _account(user: Any) -> RemoteAccount:
    if not isinstance(user, dict) or not user.get("id"):
        raise PermanentError("TalentLMS answered a user without an id")
    status = user.get("status")
    active = None if status not in ("active", "inactive") else status == "active"
    kept = {k: v for k, v in user.items() if k not in SECRET_USER_FIELDS}
    return RemoteAccount(id=str(user["id"]), active=active, fields=kept)
