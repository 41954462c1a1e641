"""Read maps and document paths: a source's record in, a SCIM User document out."""

import pytest

from provisioning.errors import MappingError
from provisioning.mapping import ReadMap, parse_doc_path

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"


def test_a_read_map_writes_core_extension_and_custom_field_paths_and_lists_schemas() -> None:
    read_map = ReadMap.parse(
        {
            "userName": "login",
            "name.givenName": "person.first",
            'emails[type eq "work"].value': {"from": "mail", "transform": ["lower"]},
            "enterprise:employeeNumber": "number",
            "hr:customFields.Skip_Elevo": "skip",
        }
    )
    doc = read_map.apply(
        {
            "login": "ada",
            "person": {"first": "Ada"},
            "mail": "ADA@X.EXAMPLE",
            "number": 7,
            "skip": True,
        }
    )
    assert doc["userName"] == "ada"
    assert doc["name"] == {"givenName": "Ada"}
    assert doc["emails"] == [{"type": "work", "value": "ada@x.example"}]
    assert doc[ENTERPRISE] == {"employeeNumber": 7}
    assert doc[HR] == {"customFields": {"Skip_Elevo": True}}
    assert doc["schemas"][1:] == [ENTERPRISE, HR]


def test_a_missing_value_is_left_out_and_a_required_one_is_a_mapping_error() -> None:
    read_map = ReadMap.parse(
        {"userName": {"from": ["login", "mail"], "required": True}, "title": "job"}
    )
    assert read_map.apply({"mail": "a@x"}) == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "a@x",
    }
    with pytest.raises(MappingError, match="userName: required, but login, mail gave no value"):
        read_map.apply({"job": "secret value"})


def test_a_lookup_turns_an_hr_status_into_active() -> None:
    read_map = ReadMap.parse(
        {
            "active": {
                "from": "status",
                "transform": [{"lookup": {"table": {"active": True}, "default": False}}],
            }
        }
    )
    assert read_map.apply({"status": "active"})["active"] is True
    assert read_map.apply({"status": "terminated"})["active"] is False


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"nickname2": "x"}, "nickname2: 'nickname2' names no attribute of the User schema"),
        (
            {'emails[value ew "x"].value': "x"},
            'a written selection is attribute[sub eq "value"].sub',
        ),
        ({"emails.value": "x"}, "name one element"),
        ({"title": {"from": "x", "transform": ["lowr"]}}, "unknown transform 'lowr'"),
    ],
)
def test_a_read_map_that_cannot_work_is_refused_naming_its_path(raw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ReadMap.parse(raw)


def test_a_doc_path_updates_the_selected_element_and_removes_it_when_emptied() -> None:
    work = parse_doc_path('emails[type eq "work"].value')
    doc = {"emails": [{"type": "home", "value": "h@x"}, {"type": "Work", "value": "old@x"}]}
    assert work.get(doc) == "old@x"
    work.set(doc, "new@x")
    assert doc["emails"][1] == {"type": "Work", "value": "new@x"}
    work.set(doc, None)
    assert doc["emails"] == [{"type": "home", "value": "h@x"}]


def test_a_doc_path_matches_attribute_names_case_insensitively_but_custom_fields_exactly() -> None:
    given = parse_doc_path("name.givenName")
    doc = {"Name": {"GivenName": "Ada"}, HR: {"customFields": {"skip": 1}}}
    assert given.get(doc) == "Ada"
    given.set(doc, "Grace")
    assert doc["Name"] == {"GivenName": "Grace"}
    assert parse_doc_path("hr:customFields.SKIP").get(doc) is None
    assert parse_doc_path("hr:customFields.skip").get(doc) == 1
