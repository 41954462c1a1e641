"""Field maps: parsed once from configuration, applied to stored SCIM users."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from gateway.scim.models import ENTERPRISE_SCHEMA, HR_SCHEMA
from provisioning.errors import MappingError
from provisioning.mapping import FieldMap, MappingContext, payload_digest
from provisioning.targets.assembly import connector_class

USER: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_SCHEMA, HR_SCHEMA],
    "id": "2819c223",
    "externalId": "E701984",
    "userName": "BJensen@Corp.Example",
    "active": True,
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [
        {"value": "babs@home.example", "type": "home", "primary": True},
        {"value": "BJensen@Corp.Example", "type": "work"},
    ],
    ENTERPRISE_SCHEMA: {
        "employeeNumber": "701984",
        "department": "Tour Operations",
        "manager": {"value": "26118915", "displayName": "John Smith"},
    },
    HR_SCHEMA: {
        "hireDate": "2024-05-01",
        "language": "fr-FR",
        "dateOfBirth": "1990-12-31",
        "ssn": "1 90 12 75 123 456",
        "customFields": {"skip_elevo_sync": False},
    },
}
MANAGER: dict[str, Any] = {
    "userName": "jsmith",
    "emails": [{"value": "john.smith@corp.example", "type": "work"}],
}

ELEVO_CSV = """
registration_number: enterprise:employeeNumber
first_name: name.givenName
last_name: name.familyName
email:
  from: ['emails[type eq "work"].value', userName]
  transform: [lower]
  required: true
manager_email:
  transform: [{manager: email}]
team_name: {from: enterprise:department, default: "Unassigned"}
work_start_date: {from: "hr:hireDate", transform: [{date: "%d/%m/%Y"}]}
language:
  from: hr:language
  transform: [{lookup: {table: {fr-FR: fr, en-US: en}, default: en}}]
skip: {from: "hr:customFields.skip_elevo_sync", transform: [{bool_to: ["yes", "no"]}]}
source: {constant: scimgw}
"""


def parse(raw: Any) -> FieldMap:
    return FieldMap.parse(raw)


def test_yaml_field_map_maps_a_user_to_the_target_payload() -> None:
    field_map = parse(yaml.safe_load(ELEVO_CSV))
    payload = field_map.apply(USER, MappingContext(manager=MANAGER, manager_remote_id="m-1"))
    assert payload == {
        "registration_number": "701984",
        "first_name": "Barbara",
        "last_name": "Jensen",
        "email": "bjensen@corp.example",
        "manager_email": "john.smith@corp.example",
        "team_name": "Tour Operations",
        "work_start_date": "01/05/2024",
        "language": "fr",
        "skip": "no",
        "source": "scimgw",
    }


def test_payload_keeps_the_field_map_order() -> None:
    field_map = parse(yaml.safe_load(ELEVO_CSV))
    assert list(field_map.fields) == list(yaml.safe_load(ELEVO_CSV))


def test_work_email_path_picks_the_work_email_not_the_first() -> None:
    payload = parse({"email": 'emails[type eq "work"].value'}).apply(USER)
    assert payload == {"email": "BJensen@Corp.Example"}


def test_from_list_takes_the_first_non_empty_value() -> None:
    field_map = parse({"login": {"from": ['emails[type eq "work"].value', "userName"]}})
    no_work_email = {**USER, "emails": [{"value": "babs@home.example", "type": "home"}]}
    assert field_map.apply(no_work_email) == {"login": "BJensen@Corp.Example"}
    empty_work_email = {**USER, "emails": [{"value": "", "type": "work"}]}
    assert field_map.apply(empty_work_email) == {"login": "BJensen@Corp.Example"}


def test_absent_fields_are_omitted() -> None:
    field_map = parse({"nick": "nickName", "title": {"from": "title", "transform": ["upper"]}})
    assert field_map.apply(USER) == {}


def test_default_fills_an_absent_field_and_is_sent_as_is() -> None:
    field_map = parse({"title": {"from": "title", "default": ""}, "dept": {"from": "title"}})
    assert field_map.apply(USER) == {"title": ""}


def test_false_is_a_value_not_an_absence() -> None:
    field_map = parse({"active": {"from": "active", "required": True}})
    assert field_map.apply({**USER, "active": False}) == {"active": False}


def test_target_field_names_stay_flat_even_when_dotted() -> None:
    payload = parse({"name.givenName": "name.givenName"}).apply(USER)
    assert payload == {"name.givenName": "Barbara"}


def test_required_field_missing_raises_mapping_error_without_values() -> None:
    field_map = parse(
        {
            "first_name": "name.givenName",
            "national_id": {"from": "hr:customFields.national_id", "required": True},
        }
    )
    with pytest.raises(MappingError) as raised:
        field_map.apply(USER)
    message = raised.value.message
    assert message == "national_id: required, but from 'hr:customFields.national_id' gave no value"
    for value in ("Barbara", "1990-12-31", "1 90 12 75 123 456", "701984"):
        assert value not in message


def test_transform_failure_names_the_field_and_transform_but_not_the_value() -> None:
    field_map = parse({"birth_date": {"from": "hr:dateOfBirth", "transform": ["date"]}})
    malformed = {HR_SCHEMA: {"dateOfBirth": "31/12/1990"}}
    with pytest.raises(MappingError) as raised:
        field_map.apply(malformed)
    assert raised.value.message.startswith("birth_date: date: ")
    assert "1990" not in raised.value.message


def test_strict_lookup_miss_is_a_mapping_error_naming_the_field() -> None:
    lookup = {"lookup": {"table": {"Sales": "S"}, "strict": True}}
    raw = {"team": {"from": "enterprise:department", "transform": [lookup]}}
    with pytest.raises(MappingError, match=r"^team: lookup: the value is not in the table$"):
        parse(raw).apply(USER)


def test_manager_field_needs_the_manager_and_is_omitted_without_one() -> None:
    field_map = parse({"manager_id": {"transform": [{"manager": "remote_id"}]}})
    assert field_map.needs_manager
    assert field_map.apply(USER) == {}
    context = MappingContext(manager=MANAGER, manager_remote_id="m-1")
    assert field_map.apply(USER, context) == {"manager_id": "m-1"}


def test_required_manager_missing_names_the_transform() -> None:
    field_map = parse({"manager_email": {"transform": [{"manager": "email"}], "required": True}})
    with pytest.raises(MappingError, match="^manager_email: required, but transform manager"):
        field_map.apply(USER)


def test_maps_without_a_manager_transform_do_not_need_the_manager() -> None:
    assert not parse({"manager_value": "enterprise:manager.value"}).needs_manager


@pytest.mark.parametrize(
    ("connector", "names_account"),
    [
        ("scim", True),  # manager.value: the manager's id in the remote
        ("lucca", True),  # managerId
        ("talenthr", True),  # reports_to_employee_id
        ("tribalhabits", False),  # manager_email: read from the stored manager
        ("eloops", False),
        ("elevo", False),
        ("talentlms", False),  # no manager at all
    ],
)
def test_only_maps_sending_the_managers_remote_id_name_the_managers_account(
    connector: str, names_account: bool
) -> None:
    """Reports are sent again when their manager gets an account only where the payload
    depends on that account (provisioning.accounts.reports): an email is known beforehand."""
    field_map = FieldMap.parse(dict(connector_class(connector).default_field_map))
    assert field_map.names_manager_account is names_account


def test_constant_field() -> None:
    assert parse({"branch": {"constant": 7}}).apply({}) == {"branch": 7}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"first_name": {"from": "name.givenName", "transform": ["lowr"]}},
            "first_name: unknown transform 'lowr'",
        ),
        ({"first_name": "name.givenNam"}, "first_name: 'name.givenNam' names no attribute"),
        ({"email": {"from": "emails[type eq "}}, "email: 'emails[type eq ' is not a SCIM path"),
        ({"login": {"fro": "userName"}}, "login: unknown key 'fro'"),
        ({"login": {"from": "userName", "required": "yes"}}, "login: required: Input should be"),
        ({"login": {"from": []}}, "login: 'from' is a SCIM path or a non-empty list of paths"),
        ({"login": {"from": "userName", "constant": "x"}}, "login: give either 'from' or"),
        ({"login": {"transform": ["lower"]}}, "login: needs 'from', 'constant', or a transform"),
        ({"login": 42}, "login: an entry is a SCIM path or a mapping"),
        ({"login": {"from": "userName", "transform": [{"trim_to": 0}]}}, "login: trim_to: length"),
        ({"": "userName"}, "target field names are non-empty strings"),
        (["userName"], "a field map is a mapping"),
    ],
)
def test_parse_errors_name_the_target_field_and_the_problem(raw: Any, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse(raw)
    assert str(raised.value).startswith(problem)


def test_unknown_transform_is_a_parse_error_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"^first_name: unknown transform 'lowr'$"):
        parse({"first_name": {"from": "name.givenName", "transform": ["lowr"]}})


def test_parse_error_is_a_value_error_not_a_pydantic_error() -> None:
    """The config loader catches ValueError to attach the YAML path."""
    with pytest.raises(ValueError) as raised:
        parse({"login": {"fro": "userName"}})
    assert not isinstance(raised.value, ValidationError)


def test_payload_digest_is_stable_across_key_order() -> None:
    first = payload_digest({"a": 1, "b": ["x", "y"], "c": {"d": None, "e": "é"}})
    second = payload_digest({"c": {"e": "é", "d": None}, "b": ["x", "y"], "a": 1})
    assert first == second
    assert len(first) == 64 and set(first) <= set("0123456789abcdef")


def test_payload_digest_changes_when_a_value_changes() -> None:
    assert payload_digest({"a": 1}) != payload_digest({"a": 2})
    assert payload_digest({"a": ["x", "y"]}) != payload_digest({"a": ["y", "x"]})
    assert payload_digest({"a": "1"}) != payload_digest({"a": 1})


def test_payload_digest_of_an_applied_map_is_reproducible() -> None:
    field_map = parse(yaml.safe_load(ELEVO_CSV))
    context = MappingContext(manager=MANAGER)
    assert payload_digest(field_map.apply(USER, context)) == payload_digest(
        parse(yaml.safe_load(ELEVO_CSV)).apply(USER, context)
    )


def test_the_example_of_the_docs_parses_and_maps() -> None:
    """docs/field-maps.md opens with a field map; it must stay a valid one."""
    docs = (Path(__file__).parents[2] / "docs" / "field-maps.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", docs, re.DOTALL)
    assert example is not None
    field_map = parse(yaml.safe_load(example.group(1))["field_map"])
    payload = field_map.apply(USER, MappingContext(manager=MANAGER))
    assert payload["email"] == "bjensen@corp.example"
    assert payload["work_start_date"] == "01/05/2024"
    assert payload["manager_email"] == "john.smith@corp.example"
