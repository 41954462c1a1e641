"""SCIM paths read out of stored User documents, as field maps use them."""

import re
from typing import Any

import pytest

from gateway.scim.models import ENTERPRISE_SCHEMA, HR_SCHEMA
from provisioning.mapping.paths import first_value, is_empty, parse_path

DOC: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_SCHEMA, HR_SCHEMA],
    "id": "2819c223",
    "userName": "bjensen",
    "active": False,
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [
        {"value": "babs@home.example", "type": "home", "primary": True},
        {"value": "bjensen@corp.example", "type": "work"},
    ],
    "phoneNumbers": [
        {"value": "+33 1 23 45 67 89", "type": "work"},
        {"value": "+33 6 12 34 56 78", "type": "mobile"},
    ],
    ENTERPRISE_SCHEMA: {
        "employeeNumber": "701984",
        "department": "Tour Operations",
        "manager": {"value": "26118915", "displayName": "John Smith"},
    },
    HR_SCHEMA: {
        "hireDate": "2024-05-01",
        "customFields": {"skip_elevo_sync": True, "Skip_Elevo_Sync": "other field"},
    },
}


def read(path: str, doc: dict[str, Any] = DOC) -> Any:
    return parse_path(path).read(doc)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("userName", "bjensen"),
        ("name.givenName", "Barbara"),
        ("active", False),
        ('emails[type eq "work"].value', "bjensen@corp.example"),
        ("emails[primary eq true].value", "babs@home.example"),
        ('phoneNumbers[type eq "mobile"].value', "+33 6 12 34 56 78"),
        (f"{ENTERPRISE_SCHEMA}:manager.value", "26118915"),
        (f"{ENTERPRISE_SCHEMA}:employeeNumber", "701984"),
        (f"{HR_SCHEMA}:customFields.skip_elevo_sync", True),
        (f"{HR_SCHEMA}:hireDate", "2024-05-01"),
    ],
)
def test_paths_of_the_seed_integrations_read_their_value(path: str, expected: Any) -> None:
    assert read(path) == expected


def test_work_email_path_picks_the_work_email_not_the_first() -> None:
    assert DOC["emails"][0]["type"] == "home"
    assert read('emails[type eq "work"].value') == "bjensen@corp.example"


def test_attribute_names_are_case_insensitive() -> None:
    """RFC 7643 §2.1: attribute names are case-insensitive, URNs included."""
    assert read("USERNAME") == "bjensen"
    assert read("Name.GivenName") == "Barbara"
    assert read('EMAILS[TYPE eq "work"].VALUE') == "bjensen@corp.example"
    assert read(f"{ENTERPRISE_SCHEMA.upper()}:MANAGER.Value") == "26118915"


def test_a_document_with_odd_key_case_is_still_read() -> None:
    assert read("name.givenName", {"Name": {"givenname": "Barbara"}}) == "Barbara"


def test_custom_field_names_are_case_sensitive() -> None:
    """Custom fields match by exact name (seed S2.3): two spellings are two fields."""
    assert read(f"{HR_SCHEMA}:customFields.skip_elevo_sync") is True
    assert read(f"{HR_SCHEMA}:customFields.Skip_Elevo_Sync") == "other field"
    assert read(f"{HR_SCHEMA}:customFields.SKIP_ELEVO_SYNC") is None


def test_custom_fields_container_name_is_case_insensitive() -> None:
    assert read(f"{HR_SCHEMA}:CUSTOMFIELDS.skip_elevo_sync") is True


def test_short_forms_of_the_extensions() -> None:
    assert read("enterprise:employeeNumber") == "701984"
    assert read("enterprise:manager.displayName") == "John Smith"
    assert read("hr:customFields.skip_elevo_sync") is True


def test_value_filter_strings_compare_case_insensitively() -> None:
    """emails.type is caseExact=false (RFC 7643 §4.1.2), so "WORK" selects "work"."""
    assert read('emails[type eq "WORK"].value') == "bjensen@corp.example"
    assert read('emails[value sw "BJENSEN@"].type') == "work"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ('emails[value co "corp"].value', "bjensen@corp.example"),
        ('emails[value ew ".example" and type eq "home"].value', "babs@home.example"),
        ('emails[type eq "work" or primary eq true].value', "babs@home.example"),
        ('emails[not (type eq "home")].value', "bjensen@corp.example"),
        ('emails[type ne "home"].value', "bjensen@corp.example"),
        ("emails[primary pr].value", "babs@home.example"),
        ("emails[primary eq null].value", "bjensen@corp.example"),
        ('phoneNumbers[value gt "+33 5"].type', "mobile"),
        ('phoneNumbers[value lt "+33 5"].type', "work"),
        ('emails[value ge "bjensen@corp.example"].value', "bjensen@corp.example"),
        ('emails[value le "babs@home.example"].value', "babs@home.example"),
    ],
)
def test_value_filter_operators_select_the_first_matching_element(path: str, expected: str) -> None:
    assert read(path) == expected


def test_ne_selects_an_element_lacking_the_attribute() -> None:
    """``ne`` is the negation of ``eq``, as in the gateway's filters."""
    doc = {"emails": [{"value": "untyped@corp.example"}]}
    assert read('emails[type ne "home"].value', doc) == "untyped@corp.example"


def test_value_filter_that_selects_nothing_reads_none() -> None:
    assert read('emails[type eq "other"].value') is None
    assert read('phoneNumbers[type eq "mobile"].value', {"userName": "x"}) is None


def test_a_selected_element_without_the_sub_attribute_is_skipped() -> None:
    doc = {"emails": [{"type": "work"}, {"type": "work", "value": "second@corp.example"}]}
    assert read('emails[type eq "work"].value', doc) == "second@corp.example"


def test_multi_valued_path_without_filter_reads_every_value() -> None:
    assert read("emails.value") == ["babs@home.example", "bjensen@corp.example"]
    assert read("emails.value", {"emails": []}) == []


def test_filter_on_plain_values_names_them_value() -> None:
    assert read('schemas[value ew "hr:2.0:User"]') == HR_SCHEMA


def test_missing_attributes_read_none() -> None:
    empty: dict[str, Any] = {}
    assert read("name.givenName", empty) is None
    assert read("enterprise:manager.value", empty) is None
    assert read("hr:customFields.skip_elevo_sync", empty) is None


def test_first_value_skips_empty_values() -> None:
    paths = [parse_path("nickName"), parse_path("displayName"), parse_path("userName")]
    assert first_value(paths, {"nickName": "", "userName": "bjensen"}) == "bjensen"
    assert first_value(paths, {}) is None


def test_false_and_zero_are_values_but_empty_containers_are_not() -> None:
    assert not is_empty(False) and not is_empty(0)
    assert is_empty(None) and is_empty("") and is_empty([]) and is_empty({})


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("bogus", "names no attribute of the User schema"),
        ("name.nickname", "names no attribute of the User schema"),
        ("urn:example:unknown:2.0:User:foo", "names no attribute of the User schema"),
        ('emails[typ eq "work"].value', "emails has no sub-attribute 'typ'"),
        ("emails[primary gt true].value", "cannot be applied to the boolean attribute"),
        ('emails[type eq "work".value', "is not a SCIM path"),
        ('emails.type eq "work"', "is a filter, not an attribute path"),
        ('name[givenName eq "x"]', "not multi-valued"),
        ("emails[type gt null].value", "null is only compared with eq and ne"),
        ("hr:customFields", "name one custom field"),
        ("", "non-empty string"),
    ],
)
def test_invalid_paths_are_parse_errors(path: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_path(path)
