"""The one rule of what a caller may observe (gateway.scim.visibility), on models built to
reach the cases the published schemas do not: a writeOnly sub-attribute of a multi-valued
attribute, and a writeOnly complex attribute whose sub-attributes carry no annotation."""

from typing import Annotated, Any

import pytest
from scim2_models import URN, ComplexAttribute, Extension, Mutability, Returned, ScimFilter, User

from gateway.errors import InvalidFilterException
from gateway.scim.visibility import check_patch_filters, observable

SCHEMA = "urn:example:params:scim:schemas:extension:vault:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Key(ComplexAttribute):
    label: str | None = None
    secret: Annotated[str | None, Mutability.write_only, Returned.never] = None


class Pin(ComplexAttribute):
    value: str | None = None


class Vault(Extension):
    __schema__ = URN(SCHEMA)

    keys: list[Key] | None = None
    pin: Annotated[Pin | None, Mutability.write_only, Returned.never] = None


VaultUser = User[Vault]  # type: ignore[type-var]


def _binding(expression: str) -> Any:
    scim_filter = ScimFilter[VaultUser](expression)  # type: ignore[type-var]
    return scim_filter.resolve_comparison(scim_filter.ast.attr_path, strict=True)


@pytest.mark.parametrize(
    ("expression", "visible"),
    [
        (f'{SCHEMA}:keys.label eq "a"', True),
        (f'{SCHEMA}:keys.secret eq "a"', False),
        (f'{SCHEMA}:pin.value eq "1"', False),  # hidden by the attribute holding it
        ('userName eq "a"', True),
    ],
)
def test_observable_follows_returned_and_mutability_of_the_attribute_and_its_holder(
    expression: str, visible: bool
) -> None:
    assert observable(_binding(expression)) is visible


def _patch(path: str) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": "remove", "path": path}]}


def test_patch_value_filter_on_a_write_only_sub_attribute_is_invalid_filter() -> None:
    with pytest.raises(InvalidFilterException) as error:
        check_patch_filters(VaultUser, _patch(f'{SCHEMA}:keys[secret sw "s"]'))
    assert "secret" in str(error.value.detail)
    with pytest.raises(InvalidFilterException):
        check_patch_filters(VaultUser, _patch(f"{SCHEMA}:keys[label pr and not (secret pr)]"))


def test_patch_value_filter_on_readable_sub_attributes_passes() -> None:
    check_patch_filters(VaultUser, _patch(f'{SCHEMA}:keys[label eq "a"].label'))
    check_patch_filters(VaultUser, _patch("userName"))  # no value filter: nothing to check
