"""How a vendor writes one mapped field, declared per field in its Resource.

Vendor modules used to walk their payload converting ids and dates by hand. A
:class:`~provisioning.connectors.resource.Resource` declares instead
``forms={"departmentId": positive_id("Lucca"), "birthDate": day_in("%Y-%m-%d")}``, and
:func:`write_forms` (the default body of a ResourceTarget) applies each form to its field
when the payload holds a value for it.
"""

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from provisioning.connectors.dates import as_date
from provisioning.errors import MappingError

#: Writes one field's value (its name first, for the message) as the vendor takes it;
#: raises MappingError, naming the field but never quoting the value, when it cannot.
FieldForm = Callable[[str, Any], Any]


def positive_id(vendor: str) -> FieldForm:
    """A vendor's id field: a positive integer, or a string of digits read as one."""

    def write(name: str, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        if (
            isinstance(value, str)
            and value.strip().isascii()
            and value.strip().isdigit()
            and int(value) >= 1
        ):
            return int(value)
        # The value is not quoted: messages are kept in delivery rows.
        raise MappingError(
            f"{name}: expected a {vendor} id (a positive integer); map names with lookup"
        )

    return write


def day_in(form: str) -> FieldForm:
    """A date field written with ``form`` (strftime) from a date, datetime or ISO string."""

    def write(name: str, value: Any) -> str:
        day = as_date(value)
        if day is None:
            raise MappingError(f"{name}: expected an ISO 8601 date")
        return day.strftime(form)

    return write


def as_text(vendor: str, checked: str, unchecked: str) -> FieldForm:
    """A field the vendor takes as text (a form field, BambooHR's strings): booleans as its
    checkbox words, None as empty, dates in ISO 8601, numbers as written; MappingError
    for a list or an object, which one text cannot hold."""

    def write(name: str, value: Any) -> str:
        if isinstance(value, bool):
            return checked if value else unchecked
        if value is None:
            return ""
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str | int | float):
            return str(value)
        raise MappingError(f"{name}: {vendor} fields take one value, not a {type(value).__name__}")

    return write


def write_forms(payload: Mapping[str, Any], forms: Mapping[str, FieldForm]) -> dict[str, Any]:
    """The payload with each declared field written in its form (None stays None)."""
    body = dict(payload)
    for name, form in forms.items():
        if body.get(name) is not None:
            body[name] = form(name, body[name])
    return body


def with_defaults(
    body: Mapping[str, Any], defaults: Mapping[str, str], options: object
) -> dict[str, Any]:
    """The body with each field of ``defaults`` it lacks (None or empty) taken from the
    option named for it (Lucca's organisation fields, TalentHR's employment status).

    Raises:
        MappingError: neither the body nor the option gives a value (naming both).
    """
    filled = dict(body)
    for name, option in defaults.items():
        if filled.get(name) in (None, ""):
            filled[name] = getattr(options, option)
        if filled[name] in (None, ""):
            raise MappingError(f"{name}: the user has none and options.{option} is not set")
    return filled
