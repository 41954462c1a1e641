"""Field forms: a vendor's id and date fields written as it takes them, declared per field."""

from datetime import date

import pytest

from provisioning.connectors.fields import as_text, day_in, positive_id, with_defaults, write_forms
from provisioning.errors import MappingError

FORMS = {"departmentId": positive_id("Lucca"), "birthDate": day_in("%Y-%m-%dT00:00:00")}


def test_declared_fields_are_written_in_their_form_and_others_pass_as_they_are() -> None:
    payload = {"departmentId": " 14", "birthDate": date(1990, 5, 2), "mail": "a@acme.com"}
    assert write_forms(payload, FORMS) == {
        "departmentId": 14,
        "birthDate": "1990-05-02T00:00:00",
        "mail": "a@acme.com",
    }
    assert write_forms({"departmentId": None}, FORMS) == {"departmentId": None}
    assert write_forms({"departmentId": 7}, {}) == {"departmentId": 7}


@pytest.mark.parametrize("value", ["Sales", 0, -3, True, 1.5, "0"])
def test_an_id_field_refuses_what_is_not_a_positive_integer_without_quoting_it(
    value: object,
) -> None:
    with pytest.raises(MappingError, match="departmentId: expected a Lucca id") as caught:
        write_forms({"departmentId": value}, FORMS)
    assert str(value) not in str(caught.value)


def test_a_date_field_refuses_what_is_not_a_date() -> None:
    with pytest.raises(MappingError, match="birthDate: expected an ISO 8601 date"):
        write_forms({"birthDate": "02/05/1990"}, FORMS)


def test_a_text_form_writes_checkbox_words_empty_none_iso_dates_and_numbers() -> None:
    form = as_text("Acme", "yes", "no")
    written = [form("f", value) for value in (True, False, None, date(2026, 1, 2), 7, 1.5, "x")]
    assert written == ["yes", "no", "", "2026-01-02", "7", "1.5", "x"]


@pytest.mark.parametrize("value", [["a", "b"], {"a": 1}])
def test_a_text_form_refuses_a_list_or_an_object_naming_the_vendor(value: object) -> None:
    with pytest.raises(MappingError, match="tags: Acme fields take one value, not a "):
        as_text("Acme", "on", "off")("tags", value)


class _Options:
    default_department_id = 12
    default_role_id = None


DEFAULTS = {"departmentId": "default_department_id", "rolePrincipalId": "default_role_id"}


def test_a_field_the_user_lacks_is_taken_from_its_option() -> None:
    """S4.3: Lucca's mandatory organisation fields default from the connection's options."""
    body = {"departmentId": None, "rolePrincipalId": 3, "mail": "a@acme.com"}
    assert with_defaults(body, DEFAULTS, _Options()) == {
        "departmentId": 12,
        "rolePrincipalId": 3,
        "mail": "a@acme.com",
    }
    assert with_defaults({"departmentId": 5, "rolePrincipalId": 3}, DEFAULTS, _Options()) == {
        "departmentId": 5,
        "rolePrincipalId": 3,
    }


def test_a_field_neither_the_user_nor_the_options_give_names_the_option_to_set() -> None:
    with pytest.raises(MappingError, match=r"rolePrincipalId: .* options.default_role_id is not"):
        with_defaults({"departmentId": 5}, DEFAULTS, _Options())
