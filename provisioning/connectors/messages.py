"""Where a vendor's error answer keeps its message, and which field errors mean "taken".

Every vendor module used to carry its own reader of error bodies (``error``, ``error.message``,
a header, field errors) and its own test of a uniqueness clash. Both are declared here as
data, next to the profile that uses them::

    read_talenthr_error = ErrorBody(message=(("error",), ("error", "message")),
                                    fields=("error", "errors"))
    PROFILE = ApiProfile(vendor="TalentHR", read_message=read_talenthr_error,
                         is_conflict=FieldClash(422, ("error", "errors"), {"email"}, ...))

An :class:`ErrorBody` is a :data:`provisioning.responses.MessageReader`; a
:class:`FieldClash` is a :data:`provisioning.responses.ResponseTest`.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from provisioning.connectors.paging import Path, member
from provisioning.responses import default_message


@dataclass(frozen=True)
class ErrorBody:
    """A vendor's error answer read into one message, as data.

    Attributes:
        header: a response header holding the message (BambooHR), tried first.
        message: members that may hold the message; the first string found is it.
        code: a member whose value goes before the message (``code: message``).
        inner: a member whose value follows the message when it adds to it (OData's
            ``innererror.message``).
        fields: where field errors are: ``{"email": ["is taken"]}`` or a list of texts.
        field_form: how one field's errors are written (``{name}``, ``{texts}``).
        with_fields: how the message and the field errors join (``{message}``, ``{fields}``).
        silent: the message of a status whose answer says nothing (a bodiless 401).

    A body holding none of these is read by :func:`provisioning.responses.default_message`.
    """

    header: str | None = None
    message: tuple[Path, ...] = ()
    code: Path | None = None
    inner: Path | None = None
    fields: Path | None = None
    field_form: str = "{name}: {texts}"
    with_fields: str = "{message} ({fields})"
    silent: Mapping[int, str] = field(default_factory=dict)

    def __call__(self, response: httpx.Response) -> str | None:
        """The message of ``response``, or None when it says nothing."""
        header = response.headers.get(self.header, "").strip() if self.header else ""
        if header:
            return header
        body = _body(response)
        message, details = self._message(body), self._fields(body)
        if message and details:
            return self.with_fields.format(message=message, fields=details)
        if message or details:
            return message or details
        return default_message(response) or self.silent.get(response.status_code)

    def _message(self, body: Any) -> str:
        found = next((text for path in self.message if (text := _text(body, path))), "")
        code = _text(body, self.code)
        inner = _text(body, self.inner)
        if not found and not inner:
            return ""  # a code alone is no message
        parts = [code, found, inner]
        return ": ".join(dict.fromkeys(part for part in parts if part))

    def _fields(self, body: Any) -> str:
        errors = member(body, self.fields) if self.fields else None
        if isinstance(errors, list):
            return "; ".join(str(item) for item in errors)
        return "; ".join(
            self.field_form.format(name=name, texts=" ".join(map(str, texts)))
            for name, texts in field_errors(body, self.fields).items()
        )


#: An RFC 7807 Problem Details body (``application/problem+json``), as ASP.NET and many
#: others answer: ``detail`` (else ``title``), then ``errors``'s field errors:
#: ``title; field: message; ...``.
PROBLEM_DETAILS = ErrorBody(
    message=(("detail",), ("title",)), fields=("errors",), with_fields="{message}; {fields}"
)


@dataclass(frozen=True)
class FieldClash:
    """A uniqueness clash its status does not say: a field error naming a unique field.

    Attributes:
        status: the status of the vendor's validation failures (400, 422).
        fields: where the field errors are (``{"email": ["has already been taken"]}``).
        unique: the unique fields, compared case-insensitively.
        words: words of a "taken" error, compared case-insensitively.
    """

    status: int
    fields: Path
    unique: Collection[str]
    words: tuple[str, ...]

    def __call__(self, response: httpx.Response) -> bool:
        """Whether ``response`` refuses a value another account holds."""
        if response.status_code != self.status:
            return False
        unique = {name.casefold() for name in self.unique}
        return any(
            name.casefold() in unique and any(w in text.casefold() for w in self.words)
            for name, texts in field_errors(_body(response), self.fields).items()
            for text in texts
        )


def field_errors(body: Any, path: Path | None) -> dict[str, list[str]]:
    """The field errors at ``path`` as field -> texts (a lone text becomes a list of one)."""
    errors = member(body, path) if path else None
    if not isinstance(errors, dict):
        return {}
    return {
        str(name): [str(t) for t in texts] if isinstance(texts, list) else [str(texts)]
        for name, texts in errors.items()
    }


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _text(body: Any, path: Path | None) -> str:
    value = member(body, path) if path else None
    return str(value) if isinstance(value, str | int | float) and value != "" else ""
