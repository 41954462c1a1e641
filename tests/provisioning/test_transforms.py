"""The transform registry: arguments checked at parse time, pure steps at apply time."""

from typing import Any

import pytest

from gateway.scim.models import ENTERPRISE_SCHEMA
from provisioning.errors import MappingError
from provisioning.mapping.transforms import TRANSFORMS, MappingContext, parse_transform

NO_CONTEXT = MappingContext()
MANAGER = {
    "userName": "jsmith",
    "emails": [
        {"value": "john@home.example", "type": "home"},
        {"value": "John.Smith@corp.example", "type": "work"},
    ],
    ENTERPRISE_SCHEMA: {"employeeNumber": "1001"},
}


def run(spec: Any, value: Any, context: MappingContext = NO_CONTEXT) -> Any:
    return parse_transform(spec)(value, context)


def test_registry_names_every_documented_transform() -> None:
    assert set(TRANSFORMS) == {
        "lower", "upper", "strip", "trim_to", "prefix", "suffix", "split", "join", "first",
        "date", "bool_to", "lookup", "default", "constant", "manager",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ("lower", "Jane.Doe@Corp.Example", "jane.doe@corp.example"),
        ("upper", "fr", "FR"),
        ("strip", "  Jane ", "Jane"),
        ({"trim_to": 3}, "Jonathan", "Jon"),
        ({"trim_to": {"length": 10}}, "Jon", "Jon"),
        ({"prefix": "X-"}, "Country", "X-Country"),
        ({"suffix": "@corp.example"}, "jdoe", "jdoe@corp.example"),
        ({"split": "@"}, "jdoe@corp.example", "jdoe"),
        ({"split": {"sep": "@", "index": -1}}, "jdoe@corp.example", "corp.example"),
        ({"split": {"sep": "@", "index": 2}}, "jdoe@corp.example", None),
        ({"join": ";"}, ["Sales", "", None, "EMEA"], "Sales;EMEA"),
        ({"join": ";"}, "Sales", "Sales"),
        ({"join": ";"}, [], None),
        ("first", ["", "a@corp.example", "b@corp.example"], "a@corp.example"),
        ("first", "only", "only"),
    ],
)
def test_string_and_list_transforms(spec: Any, value: Any, expected: Any) -> None:
    assert run(spec, value) == expected


@pytest.mark.parametrize(
    "spec", ["lower", "upper", "strip", {"trim_to": 1}, {"prefix": "X-"}, {"split": "@"}, "date"]
)
def test_string_transforms_pass_null_through(spec: Any) -> None:
    assert run(spec, None) is None


def test_string_transform_of_a_non_string_names_the_type_not_the_value() -> None:
    with pytest.raises(MappingError, match="lower: takes a string, not a bool") as raised:
        run("lower", True)
    assert "True" not in raised.value.message


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("2024-05-01", "%Y-%m-%d", "2024-05-01"),
        ("2024-05-01", "%d/%m/%Y", "01/05/2024"),
        ("2024-05-01T09:30:00Z", "%d/%m/%Y", "01/05/2024"),
        ("2024-05-01T23:30:00-05:00", "%Y-%m-%d", "2024-05-01"),
        ("2024-05-01T09:30:00.123+02:00", "%Y-%m-%dT%H:%M", "2024-05-01T09:30"),
    ],
)
def test_date_reformats_iso_dates_and_datetimes(value: str, fmt: str, expected: str) -> None:
    assert run({"date": fmt}, value) == expected


def test_date_defaults_to_iso_date() -> None:
    assert run("date", "2024-05-01T09:30:00Z") == "2024-05-01"


def test_date_that_is_not_iso_is_a_mapping_error_without_the_value() -> None:
    """A date of birth must not end up in a delivery row, even when malformed."""
    with pytest.raises(MappingError) as raised:
        run({"date": "%d/%m/%Y"}, "31/12/1990")
    assert "1990" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ({"bool_to": {True: "yes", False: "no"}}, True, "yes"),
        ({"bool_to": {"true": "on", "false": "off"}}, False, "off"),
        ({"bool_to": ["yes", "no"]}, "FALSE", "no"),
        ({"bool_to": ["yes", "no"]}, None, None),
    ],
)
def test_bool_to_maps_booleans_to_the_target_words(spec: Any, value: Any, expected: Any) -> None:
    assert run(spec, value) == expected


def test_bool_to_refuses_a_value_that_is_not_a_boolean() -> None:
    with pytest.raises(MappingError, match="bool_to: takes a boolean"):
        run({"bool_to": ["yes", "no"]}, "maybe")


DEPARTMENTS = {"Sales": "SAL", "Tour Operations": "OPS"}


def test_lookup_translates_through_the_table() -> None:
    assert run({"lookup": {"table": DEPARTMENTS}}, "Sales") == "SAL"


def test_lookup_keeps_an_unknown_value_when_not_strict() -> None:
    assert run({"lookup": {"table": DEPARTMENTS}}, "Legal") == "Legal"


def test_lookup_uses_its_default_for_an_unknown_value() -> None:
    assert run({"lookup": {"table": DEPARTMENTS, "default": "OTHER"}}, "Legal") == "OTHER"
    assert run({"lookup": {"table": DEPARTMENTS, "default": None}}, "Legal") is None


def test_lookup_strict_refuses_an_unknown_value_without_naming_it() -> None:
    with pytest.raises(MappingError, match="lookup: the value is not in the table") as raised:
        run({"lookup": {"table": DEPARTMENTS, "strict": True}}, "Secret Project")
    assert "Secret" not in str(raised.value)


def test_lookup_keys_are_exact_and_typed_as_yaml_reads_them() -> None:
    table = {"table": {True: "Active", False: "Inactive"}, "strict": True}
    assert run({"lookup": table}, False) == "Inactive"
    assert run({"lookup": {"table": DEPARTMENTS}}, "sales") == "sales"


def test_lookup_passes_absent_values_through_even_when_strict() -> None:
    assert run({"lookup": {"table": DEPARTMENTS, "strict": True}}, None) is None


def test_default_and_constant() -> None:
    assert run({"default": "EMEA"}, None) == "EMEA"
    assert run({"default": "EMEA"}, "") == "EMEA"
    assert run({"default": "EMEA"}, "APAC") == "APAC"
    assert run({"constant": "7"}, "anything") == "7"
    assert run({"constant": {"value": {"id": 7}}}, None) == {"id": 7}


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("email", "John.Smith@corp.example"),
        ("userName", "jsmith"),
        ("employeeNumber", "1001"),
        ("remote_id", "remote-42"),
    ],
)
def test_manager_resolves_the_manager_from_the_context(attribute: str, expected: str) -> None:
    context = MappingContext(manager=MANAGER, manager_remote_id="remote-42")
    assert run({"manager": attribute}, None, context) == expected


def test_manager_email_falls_back_to_primary_then_first() -> None:
    primary = {"emails": [{"value": "a@x.example"}, {"value": "b@x.example", "primary": True}]}
    assert run({"manager": "email"}, None, MappingContext(manager=primary)) == "b@x.example"
    untyped = {"emails": [{"value": "a@x.example"}, {"value": "b@x.example"}]}
    assert run({"manager": "email"}, None, MappingContext(manager=untyped)) == "a@x.example"


@pytest.mark.parametrize("attribute", ["email", "userName", "employeeNumber", "remote_id"])
def test_manager_without_a_manager_gives_no_value(attribute: str) -> None:
    assert run({"manager": attribute}, "26118915", NO_CONTEXT) is None


def test_manager_not_yet_linked_in_the_target_has_no_remote_id() -> None:
    assert run({"manager": "remote_id"}, None, MappingContext(manager=MANAGER)) is None


def test_only_the_manager_transform_needs_the_manager() -> None:
    assert [name for name, cls in TRANSFORMS.items() if cls.needs_manager] == ["manager"]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("lowr", "unknown transform 'lowr'"),
        ({"trim_to": 0}, "trim_to: length: Input should be greater than 0"),
        ({"trim_to": "20"}, "trim_to: length: Input should be a valid integer"),
        ({"split": ""}, "split: sep: String should have at least 1 character"),
        ("manager", "manager: attribute: Field required"),
        ({"manager": "mail"}, "manager: attribute: Input should be 'email'"),
        ({"lookup": {"Sales": "SAL"}}, "lookup: table: Field required; unknown key 'Sales'"),
        ({"lookup": {"table": {}}}, "lookup: table: Dictionary should have at least 1 item"),
        ({"lookup": {"table": {"a": 1}, "strict": True, "default": 2}}, "either strict or default"),
        ({"bool_to": {"true": "yes"}}, "bool_to: false: Field required"),
        ({"lower": {"x": 1}}, "lower: unknown key 'x'"),
        ({"lower": 1, "upper": 1}, "a transform is a name or a mapping"),
        (3, "a transform is a name or a mapping"),
    ],
)
def test_bad_transforms_are_parse_errors(spec: Any, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_transform(spec)
    assert problem in str(raised.value)
