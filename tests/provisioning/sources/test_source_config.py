"""``config check`` of source connections: each problem named with its YAML path."""

from gateway.config.file import parse_config
from provisioning.sources import source_problems
from provisioning.sources.registry import SOURCE_TYPES


def _config(**connection: object) -> dict:
    base = {"type": "hr_json", "direction": "source", "base_url": "http://hr.test"}
    return {"tenants": {"acme": {"connections": {"hr": {**base, **connection}}}}}


def test_a_valid_source_connection_has_no_problem() -> None:
    assert source_problems(parse_config(_config(source={"match": ["email"]}))) == []


def test_problems_of_a_source_are_named_by_their_yaml_path() -> None:
    config = parse_config(
        _config(
            options={"per_page": 5000},
            source={
                "field_map_extra": {"nickname2": "nick"},
                "scope": 'title eq "x',
                "authoritative": ["emails.value"],
            },
        )
    )
    found = source_problems(config)
    assert any(p.startswith("tenants.acme.connections.hr.options: ") for p in found)
    assert "tenants.acme.connections.hr.source: nickname2: 'nickname2' names no attribute" in (
        " ".join(found)
    )
    assert any(p.startswith("tenants.acme.connections.hr.source.authoritative: ") for p in found)


def test_an_unknown_source_type_is_named() -> None:
    [found] = source_problems(parse_config(_config(type="workday")))
    prefix = "tenants.acme.connections.hr.type: unknown source type 'workday' (known: "
    assert found.startswith(prefix)
    assert found[len(prefix) : -1].split(", ") == sorted(SOURCE_TYPES)  # every one, in order


def test_a_scope_that_is_no_filter_is_a_problem() -> None:
    found = source_problems(parse_config(_config(source={"scope": 'title eq "x'})))
    assert len(found) == 1 and found[0].startswith("tenants.acme.connections.hr.source: scope")
