"""A group member must name someone: without ``value`` it is refused, never a 500."""

import httpx
import pytest

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.mark.parametrize("member", [{"type": "User"}, {"value": None}, {"value": ""}])
async def test_a_member_without_value_is_invalid_value_and_creates_nothing(
    client: httpx.AsyncClient, member: dict[str, object]
) -> None:
    body = {"schemas": [GROUP], "displayName": "Team", "members": [member]}
    response = await client.post("/Groups", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["scimType"] == "invalidValue"
    assert error["detail"] == "members[0].value is required: the id of a User or Group"
    listed = await client.get("/Groups", params={"filter": 'displayName eq "Team"'})
    assert listed.json()["totalResults"] == 0
