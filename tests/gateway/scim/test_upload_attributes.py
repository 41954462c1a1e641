"""Custom schema attributes of a pushed user, placed by the tenant's map (pure functions)."""

import pytest

from gateway.config import ConfigError
from gateway.config.file import parse_config
from gateway.errors import InvalidValueException
from gateway.scim.models import ENTERPRISE_SCHEMA, HR_SCHEMA, user_model
from gateway.scim.upload_attributes import apply_attribute_map

MODEL = user_model((("JobCode", "string"),))


def test_mapped_attributes_are_placed_in_core_and_extensions_and_the_custom_schema_goes() -> None:
    payload = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:contoso:employee"],
        "userName": "a",
        ENTERPRISE_SCHEMA.upper(): {"department": "Sales"},
        "urn:contoso:employee": {"Cost": "C1", "Given": "Ann", "Unmapped": 1},
    }
    mapped = {
        "urn:contoso:employee:cost": f"{ENTERPRISE_SCHEMA}:costCenter",
        "urn:contoso:employee:given": "name.givenName",
    }
    result, ignored = apply_attribute_map(payload, MODEL, mapped)
    assert result == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "a",
        # the extension block as sent (in its case) receives the mapped attribute
        ENTERPRISE_SCHEMA.upper(): {"department": "Sales", "costCenter": "C1"},
        "name": {"givenName": "Ann"},
    }
    assert ignored == ["urn:contoso:employee:Unmapped"]
    assert payload["urn:contoso:employee"]["Cost"] == "C1"  # the request is not changed


def test_a_declared_custom_field_receives_its_namesake_without_a_map() -> None:
    payload = {"userName": "a", "urn:contoso:employee": {"jobcode": "AB-1"}}
    result, ignored = apply_attribute_map(payload, MODEL, {}, (("JobCode", "string"),))
    assert result[HR_SCHEMA] == {"customFields": {"JobCode": "AB-1"}}
    assert ignored == []


def test_a_map_to_no_attribute_of_the_user_fails_clearly() -> None:
    payload = {"userName": "a", "urn:contoso:employee": {"X": "1"}}
    with pytest.raises(InvalidValueException, match="no attribute of the tenant's User"):
        apply_attribute_map(payload, MODEL, {"urn:contoso:employee:x": "nickname.nope"})


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"HireDate": "title"}, "keys are a custom schema URN and an attribute"),
        ({"urn:contoso:employee:HireDate": 'emails[type eq "work"]'}, "values are scimgw"),
        ({"urn:c:A": "title", "urn:c:a": "nickName"}, "differing only in case"),
    ],
)
def test_a_malformed_attribute_map_is_refused_when_the_file_loads(
    attributes: dict[str, str], message: str
) -> None:
    data = {"tenants": {"acme": {"bulk_upload": {"attributes": attributes}}}}
    with pytest.raises(ConfigError, match=message) as refused:
        parse_config(data)
    assert "tenants.acme.bulk_upload.attributes" in str(refused.value)
