"""Tribal Habits (LMS) as a provisioning target: the Public API's ``/papi/users``.

Behaviour, sources ([V] documented, [A] assumed, to check in a sandbox) and the username
policy (``username_from``): ``docs/connectors/tribalhabits.md``.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from provisioning.connectors.base import (
    ConnectorOptions,
    ConnectorSetup,
    DeliveryContext,
    RemoteAccount,
)
from provisioning.connectors.dates import days_as
from provisioning.connectors.messages import ErrorBody
from provisioning.connectors.paging import PageNumber
from provisioning.connectors.profile import ApiClient, ApiProfile, json_encoder
from provisioning.connectors.resource import Resource, ResourceTarget
from provisioning.errors import MappingError, PermanentError

__all__ = ["DEFAULT_FIELD_MAP", "TribalHabitsConnector", "TribalHabitsOptions", "read_error"]

# -- vendor facts ([V] documented, [A] assumed) ----------------------------------------------

#: [V] Users live under the API root ``https://{org}.tribalhabits.com/papi`` (the base_url);
#: [A] one is shown, created and updated (PUT, the fields given, maybe answering without the
#: record) by its ``user_name``, which cannot change [A]; [V] ``active`` (de)activates (S5.1);
#: [V] the API cannot delete users, so deleting deactivates (learning records are kept).
USERS_PATH = "/users"
USERS = Resource(
    noun="user",
    item=USERS_PATH + "/{id}",
    id_field="user_name",
    answer="maybe",
    status={True: {"active": True}, False: {"active": False}},
    delete="deactivate",
    lookups={"email": "email"},
)
#: [V] The fields of a user record; [V] custom fields are ``X-<name>``.
STANDARD_FIELDS = frozenset(
    {"user_name", "first_name", "last_name", "email", "manager_email", "active"}
)
CUSTOM_PREFIX = "X-"
#: [V] A list custom field takes its items joined by semicolons (``'itemA;itemB'``).
LIST_SEPARATOR = ";"
#: [V] Above 300 requests/min the organisation is blocked (429) for one minute; [A] the
#: 429 carries no Retry-After, so that minute is the wait.
BLOCK_SECONDS = 60.0
#: [A] ``?page=<n>`` (1-based); [V] 25 ``records`` a page, with ``total_pages``; bounded at
#: 10,000 pages (250,000 users) against a server whose ``total_pages`` never ends.
PAGING = PageNumber(items=("records",), total_pages=("total_pages",), max_pages=10_000)
JSON = "application/json"
#: [V] 'yyyy-mm-dd' is one of the date forms the API takes.
ISO_DAY = "%Y-%m-%d"

# -- field map ---------------------------------------------------------------------------

UsernameSource = Literal["email", "userName", "employeeNumber", "externalId"]
#: Policies whose values compare case-insensitively, so they are sent in lower case.
CASE_FOLDED = frozenset({"email", "userName"})
CANDIDATE = "user_name."

WORK_EMAIL = 'emails[type eq "work"].value'
PRIMARY_EMAIL = "emails[primary eq true].value"

#: Target field <- SCIM path. ``user_name.<source>`` entries are the username candidates,
#: one per ``username_from`` value; only the chosen one is sent, as ``user_name``.
DEFAULT_FIELD_MAP: Mapping[str, Any] = MappingProxyType(
    {
        f"{CANDIDATE}email": {"from": [WORK_EMAIL, PRIMARY_EMAIL], "transform": ["lower"]},
        f"{CANDIDATE}userName": {"from": "userName", "transform": ["lower"]},
        f"{CANDIDATE}employeeNumber": {"from": "enterprise:employeeNumber", "transform": ["strip"]},
        f"{CANDIDATE}externalId": {"from": "externalId", "transform": ["strip"]},
        "first_name": {"from": "name.givenName", "required": True},
        "last_name": {"from": "name.familyName", "required": True},
        "email": {"from": [WORK_EMAIL, PRIMARY_EMAIL], "transform": ["lower"], "required": True},
        # default null: a manager removed in HR is cleared in Tribal Habits too.
        "manager_email": {"transform": [{"manager": "email"}, "lower"], "default": None},
        "active": "active",
    }
)


class TribalHabitsOptions(ConnectorOptions):
    """The ``options:`` of a ``type: tribalhabits`` connection."""

    #: What becomes ``user_name`` (S5.2): the work email when SSO uses it, or an HR id
    #: (``employeeNumber``, ``externalId``) when people have personal emails. Give the
    #: connection's ``matching.key`` the same value, so a lookup is one ``GET``.
    username_from: UsernameSource = "email"


#: [A] Errors read ``{"error": "<message>"}``; ``errors`` lists and Rails-style
#: ``{"errors": {"email": ["has already been taken"]}}`` are read too.
read_error = ErrorBody(message=(("error",),), fields=("errors",), field_form="{name} {texts}")

#: How the Tribal Habits API answers; [V] the block lasts a minute, so retrying earlier
#: than ``BLOCK_SECONDS`` only meets another 429.
PROFILE = ApiProfile(
    vendor="Tribal Habits",
    read_message=read_error,
    headers={"Accept": JSON},
    body_type=JSON,
    encode_body=json_encoder(days_as(ISO_DAY)),
    conflict_statuses=(409,),  # [A] a user_name or email already taken is answered 409
    default_wait=BLOCK_SECONDS,
    gone="the Tribal Habits user {id}",
    json_hint="(is base_url the API root, https://<org>.tribalhabits.com/papi?)",
    paging=PAGING,
)


class TribalHabitsConnector(ResourceTarget):
    """A :class:`~provisioning.connectors.base.TargetConnector` for Tribal Habits users.

    Args:
        setup: ``base_url`` is the API root (``https://acme.tribalhabits.com/papi``);
            ``http`` carries the ``api_key`` auth; ``options`` per :class:`TribalHabitsOptions`.
    """

    type: ClassVar[str] = "tribalhabits"
    default_field_map: ClassVar[Mapping[str, Any]] = DEFAULT_FIELD_MAP
    lookup_keys: ClassVar[tuple[str, ...]] = ("email", "userName", "employeeNumber", "externalId")
    resource: ClassVar[Resource] = USERS

    def __init__(self, setup: ConnectorSetup) -> None:
        self.options = TribalHabitsOptions.model_validate(dict(setup.options))
        self._api = ApiClient(setup.http, setup.base_url, PROFILE)

    async def check(self) -> None:
        """Read the first page of users; AuthError on 401/403, PermanentError if the answer
        is not the user list (a wrong base URL)."""
        await self._api.first_page(USERS_PATH)

    async def find(self, key: str, value: str) -> list[RemoteAccount]:
        """The user whose ``user_name`` is ``value`` when ``key`` is the username policy
        (one request); for ``email`` otherwise, every page of the list is read and compared
        case-insensitively (costly: about one request per 25 users).

        Raises:
            PermanentError: ``key`` is neither ``email`` nor ``username_from``.
        """
        if key == self.options.username_from:
            record = await self._read(_fold(key, value))
            return [] if record is None else [self._account(record)]
        if key == "email":
            return await self._matching(self._api.items(USERS_PATH), key, value)
        raise PermanentError(
            f"Tribal Habits users can be found by email or by their user_name "
            f"({self.options.username_from}), not by {key}: set matching.key accordingly"
        )

    async def create(self, payload: Mapping[str, Any], context: DeliveryContext) -> RemoteAccount:
        """POST the user; a user_name or email already taken is a ConflictError (409)."""
        body = {"user_name": self._user_name(payload), **self._body(payload)}
        response = await self._api.call("POST", USERS_PATH, body)
        return self._account(self._record(response, sent=body))

    # -- helpers -------------------------------------------------------------------------

    def _user_name(self, payload: Mapping[str, Any]) -> str:
        source = self.options.username_from
        value = payload.get("user_name", payload.get(CANDIDATE + source))
        if value is None or not str(value).strip():
            raise MappingError(
                f"user_name: username_from is {source!r}, but the user has no value for it "
                f"(field {CANDIDATE + source!r} of the field map)"
            )
        return str(value).strip()

    def _body(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The fields sent: standard and ``X-`` ones; user_name (fixed) and candidates dropped."""
        body: dict[str, Any] = {}
        for name, value in payload.items():
            if name == "user_name" or name.startswith(CANDIDATE):
                continue
            if name not in STANDARD_FIELDS and not name.startswith(CUSTOM_PREFIX):
                raise MappingError(
                    f"{name}: not a Tribal Habits user field (first_name, last_name, email, "
                    f"manager_email, active, or a custom field named {CUSTOM_PREFIX}<name>)"
                )
            body[name] = _wire(value)
        return body


def _wire(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(str(item) for item in value if item not in (None, ""))
    return value


def _fold(source: str, value: str) -> str:
    return value.strip().lower() if source in CASE_FOLDED else value.strip()
