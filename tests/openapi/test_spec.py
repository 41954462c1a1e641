"""openapi/scim.yaml against the routes the gateway serves, both ways, and its structure.

The route table is built without a database: the route modules are imported and the app
is constructed on an in-memory SQLite engine, which connects to nothing until used.
"""

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from starlette.routing import BaseRoute, Mount, Route

from gateway.app import create_app
from gateway.config import GatewayConfig
from gateway.scim import bulk, discovery, endpoints
from gateway.settings import Settings

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "scim.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: Starlette answers HEAD wherever it answers GET; the spec documents the GET only.
IMPLICIT_METHODS = {"HEAD"}

Operation = tuple[str, str]  # (path, METHOD)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(document, dict), "openapi/scim.yaml is not a mapping"
    return document


def _openapi_path(path: str) -> str:
    """Starlette's ``{id}`` or ``{id:path}`` is OpenAPI's ``{id}``."""
    return re.sub(r"\{(\w+)(?::\w+)?\}", r"{\1}", path)


def _operations(routes: list[BaseRoute], prefix: str = "") -> set[Operation]:
    found: set[Operation] = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= _operations(list(route.routes), prefix + route.path)
        elif isinstance(route, Route) and route.include_in_schema:  # not aliases (/Users/)
            methods = (route.methods or {"GET"}) - IMPLICIT_METHODS
            found |= {(_openapi_path(prefix + route.path), m) for m in methods}
    return found


@pytest.fixture(scope="module")
def served() -> set[Operation]:
    """Every (path, method) of the app, plus those of the route modules themselves."""
    engine = sa.create_engine("sqlite://")
    try:
        app = create_app(Settings(), engine, GatewayConfig(tenants={}))  # no tenant rows to write
        table = _operations(app.routes)
    finally:
        engine.dispose()
    table |= _operations([*endpoints.routes(), *discovery.routes(), *bulk.routes()])
    assert ("/healthz", "GET") in table and ("/scim/v2/Bulk", "POST") in table
    return table


def _documented(spec: dict[str, Any]) -> set[Operation]:
    return {
        (path, method.upper())
        for path, item in spec["paths"].items()
        for method in HTTP_METHODS
        if method in item
    }


def test_every_route_is_documented(spec: dict[str, Any], served: set[Operation]) -> None:
    missing = sorted(served - _documented(spec))
    assert not missing, f"routes missing from openapi/scim.yaml: {missing}"


def test_every_documented_operation_is_served(spec: dict[str, Any], served: set[Operation]) -> None:
    extra = sorted(_documented(spec) - served)
    assert not extra, f"openapi/scim.yaml documents operations the app does not serve: {extra}"


# -- structure -------------------------------------------------------------------------


def test_top_level_structure(spec: dict[str, Any]) -> None:
    assert str(spec.get("openapi", "")).startswith("3.1."), "expected an OpenAPI 3.1.x document"
    assert {"title", "version"} <= set(spec["info"])
    assert isinstance(spec["paths"], dict) and spec["paths"]
    assert "bearer" in spec["components"]["securitySchemes"]
    for path, item in spec["paths"].items():
        assert path.startswith("/"), path
        for method in HTTP_METHODS:
            if method in item:
                operation = item[method]
                assert operation.get("responses"), f"{method.upper()} {path} has no responses"
                assert all(
                    re.fullmatch(r"[1-5]\d\d|default", str(code)) for code in operation["responses"]
                ), f"{method.upper()} {path}"


def test_operation_ids_are_unique(spec: dict[str, Any]) -> None:
    ids = [
        item[method]["operationId"]
        for item in spec["paths"].values()
        for method in HTTP_METHODS
        if method in item and "operationId" in item[method]
    ]
    assert len(ids) == len(set(ids)), "duplicate operationId"


def test_path_parameters_are_declared(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        templated = set(re.findall(r"\{(\w+)\}", path))
        for method in HTTP_METHODS:
            if method not in item:
                continue
            parameters = [*item.get("parameters", []), *item[method].get("parameters", [])]
            declared = {
                p["name"]
                for p in (resolve(spec, p["$ref"]) if "$ref" in p else p for p in parameters)
                if p["in"] == "path"
            }
            assert declared == templated, f"{method.upper()} {path}: path parameters {declared}"


def resolve(document: dict[str, Any], ref: str) -> Any:
    """The target of a local JSON reference (``#/a/b``, RFC 6901 escapes)."""
    assert ref.startswith("#/"), f"only local references are used here: {ref}"
    target: Any = document
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        assert isinstance(target, dict) and token in target, f"unresolved $ref {ref}"
        target = target[token]
    return target


def _refs(node: Any) -> list[str]:
    """Every ``$ref`` string in the document (a property *named* ``$ref`` is a schema)."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for value in node.values():
            found += _refs(value)
        return found
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_every_ref_resolves(spec: dict[str, Any]) -> None:
    refs = _refs(spec)
    assert refs, "the spec is expected to use components"
    for ref in sorted(set(refs)):
        resolve(spec, ref)


def test_scim_error_types(spec: dict[str, Any]) -> None:
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["status"]["type"] == "string"
    assert {
        "invalidFilter",
        "tooMany",
        "uniqueness",
        "mutability",
        "invalidSyntax",
        "invalidPath",
        "noTarget",
        "invalidValue",
        "invalidVers",
        "sensitive",
        "invalidCursor",
        "expiredCursor",
    } <= set(error["properties"]["scimType"]["enum"])
