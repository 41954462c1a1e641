"""A tenant's declared custom fields: typed, exactly named, published, filterable."""

import httpx
import pytest

from gateway.config.file import GatewayConfig, parse_config

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def config() -> GatewayConfig:
    return parse_config(
        {
            "tenants": {
                "acme": {
                    "custom_fields": {
                        "skip_elevo_sync": "boolean",
                        "Team": "string",
                        "since": "dateTime",
                    }
                },
                # Strict, so that a field it does not declare is refused, not ignored.
                "globex": {"strict_input": True},
            }
        }
    )


def _user(name: str, **fields: object) -> dict[str, object]:
    return {"schemas": [CORE, HR], "userName": name, HR: {"customFields": fields}}


async def test_declared_fields_are_published_in_the_tenants_schema(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get(f"/Schemas/{HR}")).json()
    custom = next(a for a in schema["attributes"] if a["name"] == "customFields")
    types = {sub["name"]: sub["type"] for sub in custom["subAttributes"]}
    assert types == {"skip_elevo_sync": "boolean", "Team": "string", "since": "dateTime"}


async def test_values_are_typed_and_returned_under_the_declared_name(
    client: httpx.AsyncClient,
) -> None:
    """Attribute names are case-insensitive in SCIM (RFC 7643 §2.1); the declared
    spelling is the one stored and returned, so connectors match it exactly."""
    created = await client.post(
        "/Users",
        json=_user("a", skip_elevo_sync="True", team="Sales", since="2024-05-01T00:00:00Z"),
    )
    assert created.status_code == 201, created.text
    fields = created.json()[HR]["customFields"]
    assert fields["skip_elevo_sync"] is True and fields["Team"] == "Sales"
    assert fields["since"].startswith("2024-05-01T00:00:00")
    not_a_date = await client.post("/Users", json=_user("b", since="next week"))
    assert not_a_date.status_code == 400


async def test_undeclared_field_is_ignored(client: httpx.AsyncClient) -> None:
    """Unknown input is ignored by default; ``strict_input`` refuses it (test_leniency.py)."""
    response = await client.post("/Users", json=_user("a", shoeSize="44", Team="Sales"))
    assert response.status_code == 201, response.text
    assert response.json()[HR]["customFields"] == {"Team": "Sales"}


async def test_filter_and_patch_on_a_custom_field(client: httpx.AsyncClient) -> None:
    keep = (await client.post("/Users", json=_user("keep", skip_elevo_sync=False))).json()
    skip = (await client.post("/Users", json=_user("skip", skip_elevo_sync=True))).json()
    found = await client.get(
        "/Users", params={"filter": f"{HR}:customFields.skip_elevo_sync eq true"}
    )
    assert [r["id"] for r in found.json()["Resources"]] == [skip["id"]]
    body = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": f"{HR}:customFields.Team", "value": "Ops"}],
    }
    patched = await client.patch(f"/Users/{keep['id']}", json=body)
    assert patched.json()[HR]["customFields"]["Team"] == "Ops"


def test_names_differing_only_in_case_are_refused_in_config() -> None:
    from gateway.config import ConfigError

    with pytest.raises(ConfigError, match="custom_fields"):
        parse_config({"tenants": {"acme": {"custom_fields": {"Team": "string", "team": "string"}}}})


async def test_other_tenants_do_not_have_these_fields(
    client: httpx.AsyncClient, engine: object
) -> None:
    from gateway.auth.tokens import create_token

    headers = {"Authorization": f"Bearer {create_token(engine, 'globex', 'x')}"}  # type: ignore[arg-type]
    response = await client.post("/Users", json=_user("a", Team="Sales"), headers=headers)
    assert response.status_code == 400
