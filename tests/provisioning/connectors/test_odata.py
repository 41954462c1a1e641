"""OData v4 protocol pieces: literals, query strings, CSDL ``$metadata``, the error body."""

import httpx
import pytest

from provisioning.connectors.odata import ERROR, parse_metadata, string_literal, with_query
from provisioning.errors import TargetConfigError

CSDL = """<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
 <edmx:DataServices>
  <Schema Namespace="Acme.Entities" xmlns="http://docs.oasis-open.org/odata/ns/edm">
   <EntityType Name="Person">
    <Key><PropertyRef Name="Number"/></Key>
    <Property Name="Number" Type="Edm.String"/>
    <Property Name="Points_Custom" Type="Edm.Decimal"/>
   </EntityType>
   <EntityType Name="Team"><Key><PropertyRef Name="Code"/></Key></EntityType>
   <EntityContainer Name="C">
    <EntitySet Name="People" EntityType="Acme.Entities.Person"/>
    <EntitySet Name="Teams" EntityType="Acme.Entities.Team"/>
   </EntityContainer>
  </Schema>
 </edmx:DataServices>
</edmx:Edmx>"""


def test_a_string_literal_doubles_its_quotes() -> None:
    """URL conventions ABNF: ``SQUOTE-in-string = SQUOTE SQUOTE``."""
    assert string_literal("O'Brien") == "'O''Brien'"


def test_a_query_keeps_quotes_and_commas_readable_and_spaces_as_percent_20() -> None:
    url = with_query("/People", {"$filter": "Number eq 'a&b'", "$select": "Number,Points"})
    assert url == "/People?$filter=Number%20eq%20'a%26b'&$select=Number,Points"
    assert with_query("/People", {}) == "/People"


def test_metadata_gives_the_sets_type_its_key_and_the_properties_kept() -> None:
    schema = parse_metadata(CSDL.encode(), "People", lambda name: True)
    assert schema.entity_type == "Acme.Entities.Person" and schema.keys == ("Number",)
    assert dict(schema.properties) == {"Number": "Edm.String", "Points_Custom": "Edm.Decimal"}
    custom = parse_metadata(CSDL.encode(), "People", lambda name: name.endswith("_Custom"))
    assert dict(custom.properties) == {"Points_Custom": "Edm.Decimal"}
    assert parse_metadata(CSDL.encode(), "Teams", lambda name: True).keys == ("Code",)
    with pytest.raises(TargetConfigError, match="no entity set 'Staff'"):
        parse_metadata(CSDL.encode(), "Staff", lambda name: True)


def test_the_error_body_reads_code_message_and_a_new_inner_message() -> None:
    body = {"error": {"code": "BadRequest", "message": "Invalid", "innererror": {"message": "x"}}}
    assert ERROR(httpx.Response(400, json=body)) == "BadRequest: Invalid: x"
