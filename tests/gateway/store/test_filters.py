"""SCIM filters and sortBy compiled to SQL, run on real SQLite and PostgreSQL.

Each test seeds the same small directory: four users and three groups in tenant ``acme``,
and look-alikes in tenant ``globex`` that a tenant-scoped query must never return.
"""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from scim2_models import URN, EnterpriseUser, Extension, User
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from gateway.errors import InvalidFilterException, InvalidValueException
from gateway.scim.kinds import GROUP, USER, Kind, kinds_for
from gateway.scim.models import ENTERPRISE_SCHEMA, HR_SCHEMA
from gateway.store.filters import compile_filter, compile_sort, filter_shape, parse_filter
from gateway.store.prepared import Statements
from gateway.store.queries import Search
from gateway.store.reads import Reads
from gateway.store.tables import Membership, Tenant

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = ENTERPRISE_SCHEMA
HR = HR_SCHEMA
TENANT: sa.Table = Tenant.__table__  # type: ignore[attr-defined]
MEMBERSHIP: sa.Table = Membership.__table__  # type: ignore[attr-defined]

#: A tenant that declares its HR custom fields: typed sub-attributes of customFields.
DECLARED_USER = kinds_for(
    (
        ("skip_elevo_sync", "boolean"),
        ("level", "integer"),
        ("costCode", "string"),
        ("since", "dateTime"),
    )
)["users"]

#: The User kind as a token with ``scim:sensitive`` reads it: ssn and dateOfBirth visible.
SENSITIVE_READER_USER = kinds_for(sensitive_reader=True)["users"]


class FreeMapHR(Extension):
    """An HR extension whose customFields is a free map (dict), with no declared names."""

    __schema__ = URN(HR_SCHEMA)

    custom_fields: dict[str, Any] | None = None


FREE_MAP_USER = replace(USER, model=User[EnterpriseUser | FreeMapHR])  # type: ignore[misc]


def _at(month: int, day: int) -> datetime:
    return datetime(2024, month, day, 9, 30, tzinfo=UTC)


USERS: list[tuple[str, str, datetime, dict[str, Any]]] = [
    (
        "u-bjensen",
        "acme",
        _at(1, 10),
        {
            "schemas": [CORE, ENTERPRISE, HR],
            "userName": "BJensen",
            "externalId": "EXT-bj",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "displayName": "Babs Jensen",
            "title": "Tour Guide",
            "active": True,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": True},
                {"value": "babs@jensen.org", "type": "home"},
            ],
            ENTERPRISE: {
                "employeeNumber": "42",
                "department": "Sales",
                "manager": {"value": "u-jsmith"},
            },
            HR: {
                "ssn": "AB-123",
                "customFields": {
                    "skip_elevo_sync": True,
                    "level": 3,
                    "costCode": "CC-100",
                    "since": "2020-05-01T08:00:00+02:00",
                },
            },
        },
    ),
    (
        "u-jsmith",
        "acme",
        _at(3, 1),
        {
            "schemas": [CORE, ENTERPRISE, HR],
            "userName": "jsmith",
            "externalId": "EXT-JS",
            "name": {"givenName": "John", "familyName": "Smith"},
            "displayName": "John Smith",
            "title": "",
            "active": True,
            "emails": [
                {"value": "zed@example.com", "type": "work"},
                {"value": "john@example.org", "type": "other", "primary": True},
            ],
            ENTERPRISE: {"employeeNumber": "7", "department": "Engineering"},
            HR: {
                "ssn": "ab-123",
                # "three" is not the declared integer: bad data must not fail a query.
                "customFields": {
                    "skip_elevo_sync": False,
                    "level": "three",
                    "since": "2021-01-01T00:00:00Z",
                },
            },
        },
    ),
    (
        "u-pure",
        "acme",
        _at(5, 5),
        {
            "schemas": [CORE],
            "userName": "100%_pure",
            "displayName": "Pure",
            "active": False,
        },
    ),
    (
        "u-zoe",
        "acme",
        _at(6, 20),
        {
            "schemas": [CORE, HR],
            "userName": "Zoé.Dupont",
            "nickName": "Zoé",
            "externalId": "ext-bj",
            "name": {"givenName": "Zoe", "familyName": "Dupont"},
            "emails": [{"value": "zoe@example.fr", "type": "work"}],
            HR: {"customFields": {"level": 10, "costCode": "cc-100", "since": "soon"}},
        },
    ),
    # The other tenant's look-alikes: every acme query must skip them.
    (
        "g-u-bjensen",
        "globex",
        _at(2, 2),
        {
            "schemas": [CORE, ENTERPRISE, HR],
            "userName": "bjensen",
            "externalId": "EXT-bj",
            "name": {"givenName": "Barbara"},
            "title": "Tour Guide",
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
            ENTERPRISE: {"employeeNumber": "42", "department": "Sales"},
            HR: {"customFields": {"skip_elevo_sync": True, "level": 3}},
        },
    ),
]

GROUPS: list[tuple[str, str, dict[str, Any]]] = [
    ("g-sales", "acme", {"displayName": "Sales", "externalId": "G-SALES"}),
    ("g-eng", "acme", {"displayName": "Engineering", "externalId": "g-eng"}),
    ("g-empty", "acme", {"displayName": "Empty"}),
    ("g-globex", "globex", {"displayName": "Sales", "externalId": "G-SALES"}),
]

#: (group, member, member type, tenant). The globex row points at an acme user on purpose.
MEMBERS = [
    ("g-sales", "u-bjensen", "User", "acme"),
    ("g-sales", "g-eng", "Group", "acme"),
    ("g-eng", "u-jsmith", "User", "acme"),
    ("g-eng", "u-zoe", "User", "acme"),
    ("g-globex", "g-u-bjensen", "User", "globex"),
    ("g-globex", "u-pure", "User", "globex"),
]


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        for tenant in ("acme", "globex"):
            conn.execute(
                sa.insert(TENANT).values(id=tenant, display_name=tenant, created=_at(1, 1))
            )
        for user_id, tenant, created, doc in USERS:
            row = USER.columns(doc) | {"id": user_id, "tenant_id": tenant, "doc": doc}
            stamps = {"version": 1, "created": created, "last_modified": created}
            conn.execute(sa.insert(USER.table).values(**row, **stamps))
        for index, (group_id, tenant, doc) in enumerate(GROUPS):
            row = GROUP.columns(doc) | {"id": group_id, "tenant_id": tenant, "doc": doc}
            stamps = {"version": 1, "created": _at(1, 1 + index), "last_modified": _at(2, 1)}
            conn.execute(sa.insert(GROUP.table).values(**row, **stamps))
        for group_id, member_id, member_type, tenant in MEMBERS:
            conn.execute(
                sa.insert(MEMBERSHIP).values(
                    group_id=group_id,
                    member_id=member_id,
                    member_type=member_type,
                    tenant_id=tenant,
                )
            )


@pytest.fixture
def directory(engine: Engine) -> Engine:
    """The seeded database."""
    _seed(engine)
    return engine


def _matching(engine: Engine, kind: Kind, expression: str) -> set[str]:
    condition = compile_filter(kind, expression, engine.dialect.name)
    query = sa.select(kind.table.c.id).where(kind.table.c.tenant_id == "acme", condition)
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def _sorted(engine: Engine, kind: Kind, sort_by: str, descending: bool = False) -> list[str]:
    key = compile_sort(kind, sort_by, engine.dialect.name)
    order = key.desc().nulls_first() if descending else key.asc().nulls_last()
    query = (
        sa.select(kind.table.c.id)
        .where(kind.table.c.tenant_id == "acme")
        .order_by(order, kind.table.c.id)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


ALL_USERS = {"u-bjensen", "u-jsmith", "u-pure", "u-zoe"}

OPERATORS = [
    ('userName eq "bjensen"', {"u-bjensen"}),
    ('userName ne "bjensen"', ALL_USERS - {"u-bjensen"}),
    ('name.familyName co "ens"', {"u-bjensen"}),
    ('name.givenName sw "J"', {"u-jsmith"}),
    ('name.familyName ew "ONT"', {"u-zoe"}),
    ("title pr", {"u-bjensen"}),
    ('userName gt "jsmith"', {"u-zoe"}),
    ('userName ge "jsmith"', {"u-jsmith", "u-zoe"}),
    ('userName lt "bjensen"', {"u-pure"}),
    ('userName le "bjensen"', {"u-pure", "u-bjensen"}),
    ("active eq true", {"u-bjensen", "u-jsmith", "u-zoe"}),
    ("active eq false", {"u-pure"}),
    ('displayName eq "JOHN SMITH"', {"u-jsmith"}),
    ('id eq "u-pure"', {"u-pure"}),
    ('meta.resourceType eq "User"', ALL_USERS),
    ('meta.version eq "W/\\"1\\""', ALL_USERS),
]


@pytest.mark.parametrize(("expression", "expected"), OPERATORS)
def test_each_operator_returns_the_matching_users_of_the_tenant_only(
    directory: Engine, expression: str, expected: set[str]
) -> None:
    assert _matching(directory, USER, expression) == expected


LOGIC = [
    # and binds tighter than or (RFC 7644 §3.4.2.2, "Operator precedence").
    ('userName eq "jsmith" or userName eq "bjensen" and active eq false', {"u-jsmith"}),
    (
        '(userName eq "jsmith" or userName eq "bjensen") and active eq true',
        {"u-jsmith", "u-bjensen"},
    ),
    ('not (userName eq "jsmith")', ALL_USERS - {"u-jsmith"}),
    ("not (active eq true) and not (title pr)", {"u-pure"}),
    ('not (not (userName sw "b") or active eq false)', {"u-bjensen"}),
]


@pytest.mark.parametrize(("expression", "expected"), LOGIC)
def test_logical_operators_follow_rfc_precedence_and_grouping(
    directory: Engine, expression: str, expected: set[str]
) -> None:
    assert _matching(directory, USER, expression) == expected


def test_ne_and_not_match_users_lacking_the_attribute(directory: Engine) -> None:
    """``ne`` is the negation of ``eq``, as in scim2-models' ``ScimFilter.match``."""
    assert _matching(directory, USER, 'title ne "Tour Guide"') == {"u-jsmith", "u-pure", "u-zoe"}
    assert _matching(directory, USER, 'not (title eq "Tour Guide")') == {
        "u-jsmith",
        "u-pure",
        "u-zoe",
    }


def test_pr_is_false_for_missing_null_and_empty_string(directory: Engine) -> None:
    """RFC 7644 §3.4.2.2: pr matches a "non-empty or non-null value"."""
    assert _matching(directory, USER, "title pr") == {"u-bjensen"}
    assert _matching(directory, USER, "title eq null") == ALL_USERS - {"u-bjensen"}
    assert _matching(directory, USER, "emails pr") == ALL_USERS - {"u-pure"}
    assert _matching(directory, USER, "name pr") == ALL_USERS - {"u-pure"}
    assert _matching(directory, USER, "externalId pr") == ALL_USERS - {"u-pure"}


MULTI_VALUED = [
    ('emails[type eq "work" and value co "@example.com"]', {"u-bjensen", "u-jsmith"}),
    ('emails[type eq "home" and value co "@example.com"]', set()),
    ('emails[type eq "WORK" and not (value sw "zed")]', {"u-bjensen", "u-zoe"}),
    ('emails[primary eq true and value ew ".org"]', {"u-jsmith"}),
    ('emails.value co "JENSEN.ORG"', {"u-bjensen"}),
    ('emails co "@example.fr"', {"u-zoe"}),
    ('emails.value eq "babs@jensen.org"', {"u-bjensen"}),
    ('emails.value ne "babs@jensen.org"', ALL_USERS - {"u-bjensen"}),
    ("emails.primary pr", {"u-bjensen", "u-jsmith"}),
    # Entra ID's form: emails[type eq "work"].value eq "..." (not in the RFC's ABNF).
    ('emails[type eq "work"].value eq "zed@example.com"', {"u-jsmith"}),
    ('emails[type eq "other"].value eq "zed@example.com"', set()),
    (f'schemas eq "{ENTERPRISE}"', {"u-bjensen", "u-jsmith"}),
]


@pytest.mark.parametrize(("expression", "expected"), MULTI_VALUED)
def test_multi_valued_attribute_matches_when_one_element_matches(
    directory: Engine, expression: str, expected: set[str]
) -> None:
    assert _matching(directory, USER, expression) == expected


CASE = [
    ('userName eq "BJENSEN"', {"u-bjensen"}),
    ('userName eq "ZOÉ.DUPONT"', {"u-zoe"}),
    ('userName sw "zoÉ"', {"u-zoe"}),
    ('externalId eq "EXT-bj"', {"u-bjensen"}),
    ('externalId eq "ext-bj"', {"u-zoe"}),
    ('externalId eq "ext-js"', set()),
    ('externalId sw "EXT-"', {"u-bjensen", "u-jsmith"}),
    ('externalId co "bj"', {"u-bjensen", "u-zoe"}),
    ('externalId ew "BJ"', set()),
    (f'{HR}:ssn eq "AB-123"', {"u-bjensen"}),
    (f'{ENTERPRISE}:department eq "sales"', {"u-bjensen"}),
]


@pytest.mark.parametrize(("expression", "expected"), CASE)
def test_case_exactness_comes_from_the_schema(
    directory: Engine, expression: str, expected: set[str]
) -> None:
    """userName and department ignore case; externalId and ssn are caseExact (ssn as a
    ``scim:sensitive`` token reads it: other tokens may not filter on it)."""
    assert _matching(directory, SENSITIVE_READER_USER, expression) == expected


def test_username_eq_compares_the_folded_column_without_lower() -> None:
    """The unique index on (tenant_id, user_name_key) serves userName eq."""
    for dialect, compiler in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect())):
        condition = compile_filter(USER, 'userName eq "BJensen"', dialect)
        sql = str(condition.compile(dialect=compiler))
        assert "lower" not in sql.lower()
        assert sql.startswith("scim_user.user_name_key = ")
        assert list(condition.compile().params.values()) == ["bjensen"]


def test_document_strings_fold_non_ascii_case(directory: Engine) -> None:
    """Case folding covers all of Unicode on both databases (SQLite's own lower() only
    folds ASCII, so SQLite runs the same Python fold as the indexed columns)."""
    assert _matching(directory, USER, 'nickName eq "ZOÉ"') == {"u-zoe"}
    assert _matching(directory, USER, 'nickName sw "zoÉ"') == {"u-zoe"}


LIKE = [
    ('userName co "%"', {"u-pure"}),
    ('userName co "_"', {"u-pure"}),
    ('userName sw "100%"', {"u-pure"}),
    ('userName ew "%_pure"', {"u-pure"}),
    ('userName co "0%_p"', {"u-pure"}),
    ('name.givenName co "%"', set()),
    ('externalId co "/"', set()),
    ('externalId co "_"', set()),
]


@pytest.mark.parametrize(("expression", "expected"), LIKE)
def test_like_wildcards_in_the_operand_are_literal(
    directory: Engine, expression: str, expected: set[str]
) -> None:
    assert _matching(directory, USER, expression) == expected


EXTENSIONS = [
    (f'{ENTERPRISE}:employeeNumber eq "42"', {"u-bjensen"}),
    (f"{ENTERPRISE}:employeeNumber pr", {"u-bjensen", "u-jsmith"}),
    (f'{ENTERPRISE}:manager.value eq "u-jsmith"', {"u-bjensen"}),
    (f'{ENTERPRISE}:manager.value eq "U-JSMITH"', set()),
    (f'{ENTERPRISE}:department sw "eng"', {"u-jsmith"}),
    (f'{CORE}:userName eq "jsmith"', {"u-jsmith"}),
]


@pytest.mark.parametrize(("expression", "expected"), EXTENSIONS)
def test_extension_attributes_are_addressed_by_their_urn(
    directory: Engine, expression: str, expected: set[str]
) -> None:
    assert _matching(directory, USER, expression) == expected


DECLARED_FIELDS = [
    ("customFields.skip_elevo_sync eq true", {"u-bjensen"}),
    ("customFields.skip_elevo_sync eq false", {"u-jsmith"}),
    ("customFields.level eq 3", {"u-bjensen"}),
    ("customFields.level gt 2", {"u-bjensen", "u-zoe"}),
    ('customFields.costCode eq "cc-100"', {"u-bjensen", "u-zoe"}),
    ('customFields.costCode sw "CC-1"', {"u-bjensen", "u-zoe"}),
    ('customFields.since eq "2020-05-01T06:00:00Z"', {"u-bjensen"}),
    ('customFields.since lt "2020-05-01T06:30:00Z"', {"u-bjensen"}),
    ('customFields.since gt "2020-05-01T06:30:00+00:00"', {"u-jsmith"}),
    ('customFields.since ge "2020-05-01T08:00:00+02:00"', {"u-bjensen", "u-jsmith"}),
    ("customFields.since pr", {"u-bjensen", "u-jsmith", "u-zoe"}),
    ("customFields pr", {"u-bjensen", "u-jsmith", "u-zoe"}),
]


@pytest.mark.parametrize(("expression", "expected"), DECLARED_FIELDS)
def test_declared_custom_fields_compare_by_their_declared_type(
    directory: Engine, expression: str, expected: set[str]
) -> None:
    """Stored values of another JSON type (level "three", since "soon") match nothing."""
    assert _matching(directory, DECLARED_USER, f"{HR}:{expression}") == expected


@pytest.mark.parametrize(
    "expression",
    [
        'customFields.level eq "three"',
        "customFields.undeclared eq 1",
        "customFields.skip_elevo_sync gt true",
        'customFields eq "x"',
    ],
)
def test_declared_custom_fields_refuse_what_their_type_refuses(
    directory: Engine, expression: str
) -> None:
    with pytest.raises(InvalidFilterException):
        compile_filter(DECLARED_USER, f"{HR}:{expression}", directory.dialect.name)


def test_custom_fields_are_unknown_to_a_tenant_that_declares_none(directory: Engine) -> None:
    with pytest.raises(InvalidFilterException):
        compile_filter(USER, f"{HR}:customFields.level eq 3", directory.dialect.name)


FREE_MAP = [
    ("customFields.skip_elevo_sync eq true", {"u-bjensen"}),
    ("customFields.skip_elevo_sync eq false", {"u-jsmith"}),
    ('customFields.skip_elevo_sync eq "true"', set()),
    ("customFields.skip_elevo_sync pr", {"u-bjensen", "u-jsmith"}),
    ("customFields.level eq 3", {"u-bjensen"}),
    ("customFields.level eq 3.0", {"u-bjensen"}),
    ("customFields.level gt 2", {"u-bjensen", "u-zoe"}),
    ("customFields.level le 3", {"u-bjensen"}),
    ('customFields.level eq "three"', {"u-jsmith"}),
    ('customFields.costCode eq "cc-100"', {"u-bjensen", "u-zoe"}),
    ('customFields.costCode co "C-1"', {"u-bjensen", "u-zoe"}),
    ("customFields.level ne 3", ALL_USERS - {"u-bjensen"}),
    ("customFields.missing pr", set()),
    ("customFields pr", {"u-bjensen", "u-jsmith", "u-zoe"}),
]


@pytest.mark.parametrize(("expression", "expected"), FREE_MAP)
def test_free_map_entries_compare_by_the_operand_type(
    directory: Engine, expression: str, expected: set[str]
) -> None:
    """A dict attribute has no schema: the JSON type of each stored value decides."""
    assert _matching(directory, FREE_MAP_USER, f"{HR}:{expression}") == expected


@pytest.mark.parametrize(
    "expression", ["customFields.skip_elevo_sync gt true", "customFields.level co 3"]
)
def test_free_map_entries_refuse_operators_their_operand_type_lacks(
    directory: Engine, expression: str
) -> None:
    with pytest.raises(InvalidFilterException):
        compile_filter(FREE_MAP_USER, f"{HR}:{expression}", directory.dialect.name)


MEMBERSHIPS = [
    (GROUP, 'members[value eq "u-bjensen"]', {"g-sales"}),
    (GROUP, 'members.value eq "u-jsmith"', {"g-eng"}),
    (GROUP, 'members eq "g-eng"', {"g-sales"}),
    (GROUP, 'members[type eq "group"]', {"g-sales"}),
    (GROUP, "members pr", {"g-sales", "g-eng"}),
    (GROUP, "not (members pr)", {"g-empty"}),
    (GROUP, 'members.value ne "u-bjensen"', {"g-eng", "g-empty"}),
    (GROUP, 'members[value eq "U-BJENSEN"]', set()),
    (GROUP, 'displayName eq "sales" and members[value eq "u-bjensen"]', {"g-sales"}),
    (USER, 'groups.value eq "g-eng"', {"u-jsmith", "u-zoe"}),
    (USER, 'groups[value eq "g-sales"]', {"u-bjensen"}),
    # A globex membership row names the acme user u-pure: not an acme membership.
    (USER, 'groups.value eq "g-globex"', set()),
    (USER, "groups pr", {"u-bjensen", "u-jsmith", "u-zoe"}),
]


@pytest.mark.parametrize(("kind", "expression", "expected"), MEMBERSHIPS)
def test_members_and_groups_filter_on_the_membership_table_of_the_tenant(
    directory: Engine, kind: Kind, expression: str, expected: set[str]
) -> None:
    assert _matching(directory, kind, expression) == expected


GROUP_FILTERS = [
    ('displayName eq "SALES"', {"g-sales"}),
    ('externalId eq "g-eng"', {"g-eng"}),
    ('externalId eq "G-ENG"', set()),
    ("externalId pr", {"g-sales", "g-eng"}),
    ('meta.resourceType eq "Group"', {"g-sales", "g-eng", "g-empty"}),
]


@pytest.mark.parametrize(("expression", "expected"), GROUP_FILTERS)
def test_group_attributes_use_the_group_columns(
    directory: Engine, expression: str, expected: set[str]
) -> None:
    assert _matching(directory, GROUP, expression) == expected


DATES = [
    ('meta.created gt "2024-03-01T09:30:00Z"', {"u-pure", "u-zoe"}),
    ('meta.created ge "2024-03-01T09:30:00Z"', {"u-jsmith", "u-pure", "u-zoe"}),
    ('meta.created lt "2024-03-01T10:30:00+01:00"', {"u-bjensen"}),
    ('meta.lastModified le "2024-03-01T09:30:00Z"', {"u-bjensen", "u-jsmith"}),
    ('meta.lastModified eq "2024-05-05T09:30:00Z"', {"u-pure"}),
    ('meta.created gt "2024-06-01T00:00:00"', {"u-zoe"}),
    (
        'meta.created gt "2024-02-01T00:00:00Z" and meta.lastModified lt "2024-06-01T00:00:00Z"',
        {"u-jsmith", "u-pure"},
    ),
]


@pytest.mark.parametrize(("expression", "expected"), DATES)
def test_meta_dates_compare_as_instants(
    directory: Engine, expression: str, expected: set[str]
) -> None:
    """A dateTime without offset is read as UTC."""
    assert _matching(directory, USER, expression) == expected


INVALID = [
    "nickName eq",
    'userName eq "unterminated',
    'userName eq "a" and',
    'userName xx "a"',
    "",
    'undefinedAttribute eq "x"',
    'name.undefined eq "x"',
    'emails[undefined eq "x"]',
    'urn:example:params:scim:schemas:extension:unknown:2.0:User:x eq "x"',
    'userName[value eq "x"]',
    "active gt true",
    'active co "t"',
    "userName eq 12",
    'meta.created gt "yesterday"',
    'meta.created co "2024"',
    "userName gt null",
    'password eq "secret"',
    'meta.location eq "x"',
    'name eq "x"',
    'groups.display eq "Sales"',
    'x509Certificates.value eq "YWJj"',
]


@pytest.mark.parametrize("expression", INVALID)
def test_invalid_filters_raise_invalid_filter(directory: Engine, expression: str) -> None:
    with pytest.raises(InvalidFilterException) as error:
        compile_filter(USER, expression, directory.dialect.name)
    assert error.value.scim_type == "invalidFilter"
    assert error.value.status == 400


@pytest.mark.parametrize(
    "expression", ['members.display eq "Alice"', 'members[undefined eq "x"]', "displayname co 1"]
)
def test_invalid_group_filters_raise_invalid_filter(directory: Engine, expression: str) -> None:
    with pytest.raises(InvalidFilterException):
        compile_filter(GROUP, expression, directory.dialect.name)


def test_operands_are_bound_parameters_never_sql_text() -> None:
    hostile = "x' OR '1'='1"
    condition = compile_filter(USER, f'name.givenName eq "{hostile}"', "postgresql")
    sql = str(condition.compile(dialect=postgresql.dialect()))
    assert hostile.lower() not in sql.lower()
    assert hostile.lower() in condition.compile().params.values()


SORTS = [
    ("userName", False, ["u-pure", "u-bjensen", "u-jsmith", "u-zoe"]),
    ("userName", True, ["u-zoe", "u-jsmith", "u-bjensen", "u-pure"]),
    ("name.givenName", False, ["u-bjensen", "u-jsmith", "u-zoe", "u-pure"]),
    ("name.givenName", True, ["u-pure", "u-zoe", "u-jsmith", "u-bjensen"]),
    ("meta.created", True, ["u-zoe", "u-pure", "u-jsmith", "u-bjensen"]),
    ("id", True, ["u-zoe", "u-pure", "u-jsmith", "u-bjensen"]),
    # The primary email, else the first: bjensen@, john@ (primary over zed@), zoe@, none.
    ("emails.value", False, ["u-bjensen", "u-jsmith", "u-zoe", "u-pure"]),
    ("emails", False, ["u-bjensen", "u-jsmith", "u-zoe", "u-pure"]),
    (f"{ENTERPRISE}:employeeNumber", False, ["u-bjensen", "u-jsmith", "u-pure", "u-zoe"]),
    (f"{ENTERPRISE}:department", False, ["u-jsmith", "u-bjensen", "u-pure", "u-zoe"]),
]


@pytest.mark.parametrize(("sort_by", "descending", "expected"), SORTS)
def test_sort_by_orders_users_with_missing_values_last(
    directory: Engine, sort_by: str, descending: bool, expected: list[str]
) -> None:
    """RFC 7644 §3.4.2.3; missing values go last ascending and first descending."""
    assert _sorted(directory, USER, sort_by, descending) == expected


@pytest.mark.parametrize(
    ("sort_by", "expected"),
    [
        # Numbers sort as numbers (3 before 10), "three" is no integer: missing.
        ("customFields.level", ["u-bjensen", "u-zoe", "u-jsmith", "u-pure"]),
        # Instants, whatever their offset; "soon" is no dateTime: missing.
        ("customFields.since", ["u-bjensen", "u-jsmith", "u-pure", "u-zoe"]),
    ],
)
def test_sort_by_declared_custom_fields_uses_their_type(
    directory: Engine, sort_by: str, expected: list[str]
) -> None:
    assert _sorted(directory, DECLARED_USER, f"{HR}:{sort_by}") == expected


def test_sort_by_a_free_map_entry_raises_invalid_value(directory: Engine) -> None:
    with pytest.raises(InvalidValueException):
        compile_sort(FREE_MAP_USER, f"{HR}:customFields.level", directory.dialect.name)


def test_sort_by_group_display_name_ignores_case(directory: Engine) -> None:
    assert _sorted(directory, GROUP, "displayName") == ["g-empty", "g-eng", "g-sales"]


@pytest.mark.parametrize(
    "sort_by",
    ["undefined", "name", 'emails[type eq "work"]', 'userName eq "x"', "", "groups.value"],
)
def test_sort_by_an_unsortable_attribute_raises_invalid_value(
    directory: Engine, sort_by: str
) -> None:
    with pytest.raises(InvalidValueException) as error:
        compile_sort(USER, sort_by, directory.dialect.name)
    assert error.value.scim_type == "invalidValue"


def test_sort_by_members_raises_invalid_value(directory: Engine) -> None:
    with pytest.raises(InvalidValueException):
        compile_sort(GROUP, "members.value", directory.dialect.name)


# -- the same filters through the store's plans: compiled once per shape ------------------

PLANNED: list[tuple[Kind, str, set[str]]] = [
    *[(USER, e, x) for e, x in OPERATORS + LOGIC + MULTI_VALUED + LIKE + EXTENSIONS],
    *[(SENSITIVE_READER_USER, e, x) for e, x in CASE],
    *[(USER, e, x) for e, x in DATES],
    *[(DECLARED_USER, f"{HR}:{e}", x) for e, x in DECLARED_FIELDS],
    *[(FREE_MAP_USER, f"{HR}:{e}", x) for e, x in FREE_MAP],
    *MEMBERSHIPS,
    *[(GROUP, e, x) for e, x in GROUP_FILTERS],
]


def _planned(reads: Reads, connection: sa.Connection, kind: Kind, expression: str) -> set[str]:
    search = Search(parse_filter(expression), limit=1000, with_related=False)
    cursor = connection.connection.cursor()
    try:
        page, _related = reads.search(cursor, "acme", kind, search)
    finally:
        cursor.close()
    return {resource.id for resource in page.resources}


def test_plans_shared_by_filters_of_one_shape_match_what_each_filter_matches(
    directory: Engine,
) -> None:
    """Every filter above through one set of plans. Filters of the same shape
    (``userName eq "bjensen"``, ``userName eq "BJENSEN"``...) run the statement compiled for
    the first one with their own operands, and must match exactly what they match alone."""
    reads = Reads(Statements(directory.dialect))
    with directory.connect() as connection:
        for kind, expression, expected in PLANNED:
            assert _planned(reads, connection, kind, expression) == expected, expression
    assert len(reads.plans._plans) < len(PLANNED)  # shapes were shared, not recompiled


@pytest.mark.parametrize(
    ("kind", "valid", "invalid"),
    [
        (USER, 'meta.created gt "2024-01-01T00:00:00Z"', 'meta.created gt "yesterday"'),
        # An email value is any string (RFC 7643 §4.1.2 SHOULD): a sub-attribute's operand
        # is refused for its type instead.
        (USER, "emails[primary eq true]", 'emails[primary eq "maybe"]'),
        (
            DECLARED_USER,
            f'{HR}:customFields.since lt "2024-01-01T00:00:00Z"',
            f'{HR}:customFields.since lt "soon"',
        ),
    ],
)
def test_a_cached_plan_refuses_the_operands_a_fresh_compilation_refuses(
    directory: Engine, kind: Kind, valid: str, invalid: str
) -> None:
    with pytest.raises(InvalidFilterException) as fresh:
        compile_filter(kind, invalid, directory.dialect.name)
    reads = Reads(Statements(directory.dialect))
    with directory.connect() as connection:
        _planned(reads, connection, kind, valid)
        with pytest.raises(InvalidFilterException) as cached:
            _planned(reads, connection, kind, invalid)
    assert len(reads.plans._plans) == 1
    assert cached.value.detail == fresh.value.detail


def test_repeated_filters_reuse_their_prepared_operands_and_match_the_same(
    directory: Engine,
) -> None:
    """A filter sent again binds the operands prepared the first time: the second pass
    over every filter matches exactly what the first did."""
    reads = Reads(Statements(directory.dialect))
    with directory.connect() as connection:
        first = [_planned(reads, connection, k, e) for k, e, _x in PLANNED]
        second = [_planned(reads, connection, k, e) for k, e, _x in PLANNED]
    assert second == first == [expected for _k, _e, expected in PLANNED]
    prepared = [plan.compiled._prepared for plan in reads.plans._plans.values() if plan.compiled]
    assert sum(len(memo) for memo in prepared) > 0


@pytest.mark.parametrize(
    "expressions",
    [
        ["active eq true", "active eq 1", "active eq true", "active eq 1.0"],
        ["title eq 1", "title eq true", 'title eq "1"', "title eq 1"],
    ],
)
def test_prepared_operands_are_kept_per_type_as_well_as_value(
    directory: Engine, expressions: list[str]
) -> None:
    """``1``, ``1.0`` and ``true`` are equal in Python: each filter still matches, or is
    refused, exactly as it is on a server that never saw the others."""

    def outcome(reads: Reads, connection: sa.Connection, expression: str) -> object:
        try:
            return _planned(reads, connection, USER, expression)
        except InvalidFilterException as exc:
            return exc.detail

    shared = Reads(Statements(directory.dialect))
    with directory.connect() as connection:
        for expression in expressions:
            fresh = outcome(Reads(Statements(directory.dialect)), connection, expression)
            assert outcome(shared, connection, expression) == fresh, expression


def test_an_operand_refused_once_is_refused_again(directory: Engine) -> None:
    reads = Reads(Statements(directory.dialect))
    with directory.connect() as connection:
        _planned(reads, connection, USER, 'meta.created gt "2024-01-01T00:00:00Z"')
        for _ in range(2):
            with pytest.raises(InvalidFilterException):
                _planned(reads, connection, USER, 'meta.created gt "yesterday"')


def test_filter_shape_tells_operand_types_and_empty_strings_apart() -> None:
    def shape(expression: str) -> object:
        return filter_shape(parse_filter(expression))

    assert shape('userName eq "a"') == shape('userName eq "b"')
    assert shape('userName eq "a"') != shape("userName eq 1")
    assert shape('userName co "a"') != shape('userName co ""')
    assert shape('userName eq "a" or title pr') != shape('userName eq "a" and title pr')


def test_the_filters_package_exposes_only_its_pinned_names() -> None:
    """Other code imports the package, never its modules (as httpx pins ``httpx.__all__``)."""
    import gateway.store.filters as filters

    assert sorted(filters.__all__) == [
        "CompiledFilter",
        "compile_filter",
        "compile_parsed",
        "compile_sort",
        "filter_shape",
        "parse_filter",
    ]
    assert all(hasattr(filters, name) for name in filters.__all__)
