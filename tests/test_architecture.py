"""The dependency rules of docs/architecture.md, read from the source of every module.

Every import counts: module level, inside functions, under ``TYPE_CHECKING``. A failure names
the file, the line and the import that runs against the direction.
"""

import ast
import functools
import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Top-level package -> the packages it may import. The composition root knows both; the
#: engine builds on the server's floor; the server knows neither.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "scimgw": frozenset({"gateway", "provisioning"}),
    "provisioning": frozenset({"gateway"}),
    "gateway": frozenset(),
}

#: The part of gateway that provisioning builds on: the store (and the outbox it writes),
#: the configuration's schema, the SCIM resource models, the exception and log setup, and
#: the one writer of resources that sync runs apply through. Never the HTTP layer (app,
#: runtime, SCIM endpoints, auth).
GATEWAY_FLOOR = (
    "gateway.config",
    "gateway.errors",
    "gateway.logs",
    "gateway.scim.kinds",
    "gateway.scim.models",
    "gateway.service",
    "gateway.settings",
    "gateway.store",
)

#: provisioning's rooms and floor modules, ranked: a room imports only lower ranks.
#: ``sources`` is the room HR sources and sync runs will live in (docs/architecture.md).
ROOM_RANKS: dict[str, int] = {
    "provisioning.engine": 5,
    "provisioning.sources": 5,
    "provisioning.accounts": 4,
    "provisioning.records": 3,
    "provisioning.targets": 2,
    "provisioning.mapping": 1,
    "provisioning.connectors": 1,
    "provisioning.auth": 1,
    "provisioning.responses": 0,
    "provisioning.errors": -1,
}

#: Packages whose internals other code reaches only through the ``__init__``.
FRONT_DOORS = (
    "gateway.config",
    "provisioning.accounts",
    "provisioning.auth",
    "provisioning.connectors",
    "provisioning.engine",
    "provisioning.mapping",
    "provisioning.records",
    "provisioning.sources",
    "provisioning.targets",
)

#: Each room's public surface, pinned (as httpx pins ``httpx.__all__``): a change here is a
#: change of what other code may rely on, made on purpose.
SURFACES: dict[str, list[str]] = {
    "gateway.config": [
        "ApiKeyAuth",
        "AuthSettings",
        "BasicAuth",
        "BearerAuth",
        "CircuitBreaker",
        "ConfigError",
        "DeletionGuard",
        "GatewayConfig",
        "MicrosoftIdentity",
        "OAuth2ClientCredentials",
        "RunReport",
        "Schedule",
        "Secret",
        "ServerConfig",
        "SourceGuard",
        "SourceSettings",
        "TargetConnection",
        "load_config",
    ],
    "provisioning.accounts": [
        "AnyWork",
        "CREATE",
        "DEACTIVATE",
        "DELETE",
        "ENTERPRISE",
        "Effect",
        "ExportHeld",
        "FAIL",
        "GroupWork",
        "REPLACED",
        "SKIP",
        "Step",
        "TargetRunner",
        "Work",
        "carry_out",
        "decide",
        "decide_group",
        "enqueue_groups_of",
        "enqueue_reports_of",
        "export_all",
        "load_group_work",
        "load_work",
        "takes_groups",
    ],
    "provisioning.auth": [
        "AccessToken",
        "ApiKeyHeaderAuth",
        "BasicCredentialsAuth",
        "BearerTokenAuth",
        "Certificate",
        "CertificateAssertion",
        "ClientCredentialsAuth",
        "build_auth",
        "client_credentials_auth",
        "load_certificate",
        "microsoft_identity_auth",
    ],
    "provisioning.connectors": [
        "ConnectorSetup",
        "DeliveryContext",
        "ExportConnector",
        "GroupTarget",
        "RemoteAccount",
        "SourceConnector",
        "SourcePage",
        "TargetConnector",
    ],
    "provisioning.engine": [
        "Mailer",
        "PRIORITY_NAMES",
        "RunStatus",
        "Scheduler",
        "Worker",
        "backlogs",
        "embedded_worker",
        "format_duration",
        "run_statuses",
        "running",
    ],
    "provisioning.mapping": [
        "DocPath",
        "FieldMap",
        "MappingContext",
        "ReadMap",
        "compile_scope",
        "in_scope",
        "parse_doc_path",
        "payload_digest",
        "source_value",
    ],
    "provisioning.records": [
        "Claim",
        "DeliveryRecord",
        "Link",
        "record_audit",
        "record_deliveries",
    ],
    "provisioning.sources": [
        "SOURCE_TYPES",
        "SourceRunner",
        "confirm",
        "source_class",
        "source_problems",
    ],
    "provisioning.targets": [
        "Target",
        "build_client",
        "build_targets",
        "problems",
    ],
}


@dataclass(frozen=True)
class Import:
    """One imported module, as written in the importing module."""

    source: str
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def imports_in(source: str, module: str, is_package: bool = False) -> Iterator[Import]:
    """Every module ``source`` imports, wherever the statement sits."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            yield Import(module, node.lineno, base)
            for alias in node.names:
                if is_module(f"{base}.{alias.name}"):
                    yield Import(module, node.lineno, f"{base}.{alias.name}")


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".")
    package = package[: len(package) - node.level + (1 if is_package else 0)]
    return ".".join([*package, *([node.module] if node.module else [])])


@functools.cache
def all_imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for package in MAY_IMPORT:
        for path in sorted((ROOT / package).glob("**/*.py")):
            found += imports_in(
                path.read_text(encoding="utf-8"), module_name(path), path.stem == "__init__"
            )
    return tuple(found)


def package_of(dotted: str) -> str:
    return dotted.split(".")[0]


def within(dotted: str, prefix: str) -> bool:
    return dotted == prefix or dotted.startswith(prefix + ".")


def room_of(dotted: str) -> str | None:
    return next((room for room in ROOM_RANKS if within(dotted, room)), None)


def against_the_direction(imports: Iterable[Import]) -> list[Import]:
    """Imports from one top-level package into another that it may not import."""
    return [
        found
        for found in imports
        if package_of(found.target) in MAY_IMPORT
        and package_of(found.target) != package_of(found.source)
        and package_of(found.target) not in MAY_IMPORT[package_of(found.source)]
    ]


def test_packages_import_one_way() -> None:
    """scimgw -> {provisioning, gateway}; provisioning -> gateway; gateway -> neither."""
    wrong = against_the_direction(all_imports())
    assert not wrong, "imports against the direction:\n" + "\n".join(map(str, wrong))


def test_the_direction_check_sees_imports_inside_functions() -> None:
    source = "def serve():\n    from provisioning.engine import Worker\n"
    found = list(imports_in(source, "gateway.app"))
    assert [str(f) for f in against_the_direction(found)] == [
        "gateway.app:2 imports provisioning.engine"
    ]


def test_provisioning_reaches_only_the_floor_of_gateway() -> None:
    wrong = [
        found
        for found in all_imports()
        if package_of(found.source) == "provisioning"
        and package_of(found.target) == "gateway"
        and found.target != "gateway"
        and not any(within(found.target, floor) for floor in GATEWAY_FLOOR)
    ]
    assert not wrong, "provisioning above gateway's floor:\n" + "\n".join(map(str, wrong))


def test_provisioning_rooms_import_only_lower_rooms() -> None:
    wrong = []
    for found in all_imports():
        source, target = room_of(found.source), room_of(found.target)
        if source and target and source != target and ROOM_RANKS[target] >= ROOM_RANKS[source]:
            wrong.append(found)
    assert not wrong, "a room imports a room at or above it:\n" + "\n".join(map(str, wrong))


def test_provisioning_holds_only_its_rooms_and_floor() -> None:
    """A new module goes into a room (docs/architecture.md says which), not beside them."""
    present = {
        f"provisioning.{path.stem}"
        for path in (ROOT / "provisioning").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert present <= set(ROOM_RANKS), f"not in a room: {sorted(present - set(ROOM_RANKS))}"


def test_code_outside_a_room_imports_its_front_door() -> None:
    wrong = []
    for found in all_imports():
        for room in FRONT_DOORS:
            internal = within(found.target, room) and found.target != room
            if internal and not within(found.source, room) and not _is_module_import(found):
                wrong.append(found)
    assert not wrong, "past a room's front door:\n" + "\n".join(map(str, wrong))


def _is_module_import(found: Import) -> bool:
    """``from provisioning.records import claims``: the room lends a module as a namespace."""
    path = ROOT.joinpath(*found.source.split("."))
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.lineno == found.line and node.module:
            return any(f"{node.module}.{alias.name}" == found.target for alias in node.names)
    return False


@pytest.mark.parametrize("room", sorted(SURFACES))
def test_room_public_surface_is_pinned(room: str) -> None:
    package = importlib.import_module(room)
    assert sorted(package.__all__) == SURFACES[room]
    assert all(hasattr(package, name) for name in package.__all__)
