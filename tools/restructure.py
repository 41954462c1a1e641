"""The mechanical part of the architecture step (issue 10, points 1, 2 and 6): move modules
into rooms, give each room a front door, and rewrite every reference to a moved module.

Run from the repository root, on a clean tree::

    python tools/restructure.py          # prints what it moved and rewrote

It works on module paths and import statements, never on line numbers, so it can be re-run
on a tree that other branches have changed since; running it twice is harmless (the second
run finds nothing to move and nothing to rewrite). A module that a table names but the tree
does not hold (``provisioning/breaker.py`` before its branch is merged) is skipped.

What it does, in order:

1. ``git mv`` each module of :data:`MOVES` that still sits at its old path.
2. Rewrites references to the old dotted names and file paths in every text file it owns
   (Python, docs, pyproject, Makefile, Dockerfile): ``from a.b import c``, ``import a.b``,
   ``"a.b:app"`` entry points, ``python -m a.b``, monkeypatch strings, ``a/b.py`` in docs.
3. Rewrites ``from package import module`` where the module moved (``from provisioning
   import claims`` -> ``from provisioning.records import claims``).
4. Folds :data:`MERGES` (a module whose one class exists twice) into the survivor.
5. Writes each room's ``__init__.py`` (purpose, re-exports, ``__all__``): the public
   surface is what code outside the room imports from it; those imports then go through
   the front door.
6. Adds the composition root ``scimgw`` to pyproject, the Makefile and the Dockerfile.
7. Sorts the imports it touched (``ruff check --select I --fix``).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Old dotted module -> new dotted module. The rooms' purposes are in ROOMS.
MOVES: dict[str, str] = {
    # The composition root: the only layer that knows both the server and the engine.
    "gateway.cli": "scimgw.cli",
    "gateway.cli_common": "scimgw.cli_common",
    "gateway.asgi": "scimgw.asgi",
    "provisioning.commands": "scimgw.commands",
    # The outbox writer beside its table: written in the store's own transaction.
    "provisioning.outbox": "gateway.store.outbox",
    # The YAML file's schema is the floor both the server and the engine read.
    "gateway.config": "gateway.config.file",
    "provisioning.connection": "gateway.config.connection",
    "provisioning.auth.settings": "gateway.config.outbound_auth",
    "provisioning.secrets": "gateway.config.secrets",
    "provisioning.connectors.limits": "gateway.config.vendor_rates",
    # provisioning/engine: the queue and its loop.
    "provisioning.worker": "provisioning.engine.worker",
    "provisioning.delivery": "provisioning.engine.delivery",
    "provisioning.ledger": "provisioning.engine.ledger",
    "provisioning.leases": "provisioning.engine.leases",
    "provisioning.retry": "provisioning.engine.retry",
    "provisioning.breaker": "provisioning.engine.breaker",
    "provisioning.status": "provisioning.engine.status",
    "provisioning.embedded": "provisioning.engine.embedded",
    # provisioning/accounts: what one event means for one remote account.
    "provisioning.snapshot": "provisioning.accounts.snapshot",
    "provisioning.decisions": "provisioning.accounts.decisions",
    "provisioning.execution": "provisioning.accounts.execution",
    "provisioning.groups": "provisioning.accounts.groups",
    "provisioning.exports": "provisioning.accounts.exports",
    "provisioning.plan": "provisioning.accounts.plan",
    "provisioning.reports": "provisioning.accounts.reports",
    # provisioning/records: the engine's own rows.
    "provisioning.claims": "provisioning.records.claims",
    "provisioning.links": "provisioning.records.links",
    "provisioning.guard": "provisioning.records.guard",
    "provisioning.journal": "provisioning.records.journal",
    "provisioning.deliveries": "provisioning.records.deliveries",
    "provisioning.failures": "provisioning.records.failures",
    # provisioning/targets: a connection made ready to deliver.
    "provisioning.targets": "provisioning.targets.assembly",
    "provisioning.http": "provisioning.targets.client",
    "provisioning.ratelimit": "provisioning.targets.ratelimit",
    "provisioning.validation": "provisioning.targets.validation",
    "provisioning.replies": "provisioning.targets.replies",
    # provisioning/mapping: a SCIM user in, a target's fields out.
    "provisioning.mapping": "provisioning.mapping.fieldmap",
    "provisioning.paths": "provisioning.mapping.paths",
    "provisioning.transforms": "provisioning.mapping.transforms",
    "provisioning.scoping": "provisioning.mapping.scoping",
}

#: Module whose class duplicates one elsewhere -> (survivor module, {old name: new name}).
MERGES: dict[str, tuple[str, dict[str, str]]] = {
    "provisioning.storecalls": ("gateway.store.calls", {"StoreCalls": "StoreCaller"}),
}
#: The worker kept a bounded pool of its own threads (PostgreSQL) under StoreCalls.
WORKER_STORE_CALL = (
    "provisioning/engine/worker.py",
    "StoreCaller(engine)",
    "StoreCaller(engine, threads=4)",
)

#: Rooms whose ``__init__.py`` this script writes: dotted name -> one-line purpose.
ROOMS: dict[str, str] = {
    "gateway.config": "The YAML file's schema: server, tenants, connections, outbound auth,"
    " secrets.",
    "provisioning.engine": "The queue and its loop: claim due events, deliver them, settle each"
    " outcome.",
    "provisioning.accounts": "One event for one remote account: load, decide, carry out; groups,"
    " exports, dry run.",
    "provisioning.records": "The engine's own rows: outbox claims, account links, guard state, the"
    " journal.",
    "provisioning.targets": "A connection made ready to deliver: connector, client, rate limit,"
    " map, scope.",
    "provisioning.mapping": "A SCIM user in, a target's fields out: paths, transforms, field maps,"
    " scopes.",
    "provisioning.connectors": "Target connectors, one module per vendor or protocol, and their"
    " contract.",
}
#: Packages created without a front door of names.
PACKAGES: dict[str, str] = {
    "scimgw": "The composition root: the CLI and the ASGI entry wire server, store and engine.",
}
PROVISIONING_DOC = '''"""Outbound provisioning: each stored change, sent to the tenant's targets.

Rooms, each importing only the ones below it (docs/architecture.md)::

    engine/      the queue and its loop: claims, leases, worker, delivery, ledger, retry
    accounts/    one event for one remote account: snapshot, decisions, execution, groups
    records/     the engine's rows: claims, account links, guard state, journal
    targets/     a connection made ready: connector, client, rate limit, validation
    mapping/     paths, transforms, field maps, scope filters
    connectors/  one module per vendor;  auth/  outbound credentials
    errors.py, responses.py   the exception hierarchy every room raises, and the reader of
                              vendor responses into it
"""
'''

#: Where references are rewritten; the script itself keeps the old names.
TEXT_GLOBS = (
    "**/*.py",
    "**/*.md",
    "pyproject.toml",
    "Makefile",
    "Dockerfile",
    "**/*.mako",
    "**/*.yaml",
    "**/*.ini",
    "**/*.cfg",
)
SKIP_PARTS = {".venv", ".git", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}
SELF = Path(__file__).resolve()
#: A file holding this line keeps the old names (the tool's own test writes old layouts).
KEEP_MARKER = "restructure: " + "keep old names"
PYTHON_ROOTS = ("gateway", "provisioning", "scimgw", "tests", "benchmarks")


def main() -> int:
    moved = move_modules()
    live = live_moves(moved)
    rewrite_text(live)
    rewrite_package_imports(moved)
    merge_duplicates()
    write_front_doors()
    wire_composition_root()
    sort_imports()
    return 0


# --- 1. moves -------------------------------------------------------------------------------


def path_of(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


def resolves(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def move_modules() -> set[str]:
    """``git mv`` what still sits at its old path; returns the old names moved now."""
    moved = set()
    for old, new in MOVES.items():
        source, target = path_of(old), path_of(new)
        if not source.exists():
            continue
        if target.exists():
            sys.exit(f"both {rel(source)} and {rel(target)} exist: resolve by hand first")
        ensure_package(target.parent)
        git("mv", rel(source), rel(target))
        print(f"moved   {rel(source)} -> {rel(target)}")
        moved.add(old)
    return moved


def ensure_package(directory: Path) -> None:
    """Create ``directory`` (and parents up to ROOT) as packages, with a docstring."""
    if directory == ROOT or (directory / "__init__.py").exists():
        return
    ensure_package(directory.parent)
    directory.mkdir(exist_ok=True)
    dotted = ".".join(directory.relative_to(ROOT).parts)
    purpose = ROOMS.get(dotted) or PACKAGES.get(dotted) or ""
    (directory / "__init__.py").write_text(docstring(purpose) if purpose else "")
    git("add", rel(directory / "__init__.py"))
    print(f"created {rel(directory / '__init__.py')}")


def docstring(purpose: str) -> str:
    """The purpose as a module docstring, wrapped to the project's line length."""
    return '"""' + textwrap.fill(purpose + '"""', width=97, subsequent_indent="") + "\n"


def live_moves(moved: set[str]) -> dict[str, str]:
    """The moves whose old names must be rewritten wherever they still appear.

    An old name that no longer resolves is stale wherever it appears. One that now names a
    package (``provisioning.mapping``, now a room) is rewritten only in the run that moved
    it: afterwards it means the room's front door.
    """
    live = {old: new for old, new in MOVES.items() if old in moved or not resolves(old)}
    for old, (new, _names) in MERGES.items():
        if not resolves(old) or path_of(old).exists():
            live[old] = new
    return {old: new for old, new in live.items() if resolves(new) or path_of(old).exists()}


# --- 2. text references ---------------------------------------------------------------------


def text_files() -> list[Path]:
    found: set[Path] = set()
    for pattern in TEXT_GLOBS:
        for path in ROOT.glob(pattern):
            if path.is_file() and path.resolve() != SELF and not SKIP_PARTS & set(path.parts):
                found.add(path)
    return sorted(found)


def reference_patterns(live: dict[str, str]) -> list[tuple[re.Pattern[str], str]]:
    """Dotted names and file paths of the old modules, longest first.

    Neither may follow a word character, a dot or a slash (``tests/provisioning/...`` is
    not ``provisioning/...``); a dotted name may not run on into a longer identifier, nor
    into a module of the package that now bears its name.
    """
    patterns = []
    for old in sorted(live, key=len, reverse=True):
        new = live[old]
        children = child_modules(old)
        guard = "".join(rf"(?!\.{name}\b)" for name in children)
        dotted = re.compile(rf"(?<![\w./]){re.escape(old)}(?![\w]){guard}")
        old_path, new_path = old.replace(".", "/"), new.replace(".", "/")
        slashed = re.compile(rf"(?<![\w./]){re.escape(old_path)}\.py\b")
        patterns += [(dotted, new), (slashed, f"{new_path}.py")]
    return patterns


def child_modules(module: str) -> list[str]:
    package = ROOT.joinpath(*module.split("."))
    if not package.is_dir():
        return []
    return sorted(p.stem for p in package.iterdir() if p.suffix == ".py" or p.is_dir())


def rewrite_text(live: dict[str, str]) -> None:
    patterns = reference_patterns(live)
    for path in text_files():
        text = path.read_text(encoding="utf-8")
        if KEEP_MARKER in text:
            continue
        new = text
        for pattern, replacement in patterns:
            new = pattern.sub(replacement, new)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {rel(path)}")


# --- 3. from package import module ----------------------------------------------------------


def python_files() -> list[Path]:
    files = []
    for root in PYTHON_ROOTS:
        for path in sorted((ROOT / root).glob("**/*.py")):
            if not SKIP_PARTS & set(path.parts) and KEEP_MARKER not in path.read_text("utf-8"):
                files.append(path)
    return files


def rewrite_package_imports(moved: set[str]) -> None:
    """``from provisioning import claims, plan as p`` -> one statement per new package."""
    table = {**MOVES, **{old: new for old, (new, _) in MERGES.items()}}
    for path in python_files():
        edits = []
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            groups = regroup(node, table, moved)
            if groups is not None:
                edits.append((node, render_imports(groups, node.col_offset)))
        if edits:
            path.write_text(apply_edits(source, edits), encoding="utf-8")
            print(f"rewrote {rel(path)} (from-package imports)")


def regroup(
    node: ast.ImportFrom, table: dict[str, str], moved: set[str]
) -> dict[str, list[str]] | None:
    """New ``module -> [name [as alias]]`` for the statement, or None when nothing moved."""
    groups: dict[str, list[str]] = {}
    changed = False
    for alias in node.names:
        old = f"{node.module}.{alias.name}"
        target = table.get(old)
        if target and (old in moved or not resolves(old)):
            parent, leaf = target.rsplit(".", 1)
            name = alias.asname or alias.name
            groups.setdefault(parent, []).append(leaf if leaf == name else f"{leaf} as {name}")
            changed = True
        else:
            entry = alias.name if not alias.asname else f"{alias.name} as {alias.asname}"
            groups.setdefault(node.module or "", []).append(entry)
    return groups if changed else None


def render_imports(groups: dict[str, list[str]], indent: int) -> str:
    pad = " " * indent
    lines = []
    for module, names in groups.items():
        line = f"{pad}from {module} import {', '.join(names)}"
        if len(line) > 100:
            inner = "".join(f"{pad}    {name},\n" for name in names)
            line = f"{pad}from {module} import (\n{inner}{pad})"
        lines.append(line)
    return "\n".join(lines).lstrip(" ")


def apply_edits(source: str, edits: Sequence[tuple[ast.stmt, str]]) -> str:
    """Replace each statement's exact span (it starts at its column; indentation stays)."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    result = source
    for node, text in sorted(edits, key=lambda edit: edit[0].lineno, reverse=True):
        start = offsets[node.lineno - 1] + node.col_offset
        end = offsets[node.end_lineno - 1] + node.end_col_offset  # type: ignore[operator]
        result = result[:start] + text + result[end:]
    return result


# --- 4. one class, not two ------------------------------------------------------------------


def merge_duplicates() -> None:
    for old, (survivor, names) in MERGES.items():
        for path in python_files():
            text = path.read_text(encoding="utf-8")
            new = text
            for before, after in names.items():
                new = re.sub(rf"\b{before}\b", after, new)
            if new != text:
                path.write_text(new, encoding="utf-8")
                print(f"renamed {', '.join(names)} in {rel(path)}")
        stale = path_of(old)
        if stale.exists() and "threads" in path_of(survivor).read_text(encoding="utf-8"):
            git("rm", "-qf", rel(stale))
            print(f"removed {rel(stale)} (its class is {survivor})")
    worker, before, after = WORKER_STORE_CALL
    path = ROOT / worker
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if before in text:
            path.write_text(text.replace(before, after), encoding="utf-8")
            print(f"rewrote {worker}: the worker keeps its own four store threads")


# --- 5. front doors -------------------------------------------------------------------------


def room_of(module: str) -> str | None:
    for room in sorted(ROOMS, key=len, reverse=True):
        if module == room or module.startswith(room + "."):
            return room
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_test(path: Path) -> bool:
    return path.relative_to(ROOT).parts[0] in ("tests", "benchmarks")


def write_front_doors() -> None:
    """Re-export what other code imports from each room, and route those imports through it."""
    exports = {room: existing_exports(room) for room in ROOMS}
    for path in python_files():
        if is_test(path):
            continue
        for node, room in foreign_imports(path):
            for alias in node.names:
                if not alias.name.startswith("_"):
                    exports[room].setdefault(alias.name, node.module or "")
    for room, names in exports.items():
        if names and resolves(room):
            write_init(room, names)
    route_through_front_doors(exports)


def existing_exports(room: str) -> dict[str, str]:
    """Name -> defining module, as the room's ``__init__.py`` already re-exports them."""
    init = ROOT.joinpath(*room.split(".")) / "__init__.py"
    if not init.exists():
        return {}
    found = {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(room):
            for alias in node.names:
                found[alias.name] = node.module
    return found


def foreign_imports(path: Path) -> list[tuple[ast.ImportFrom, str]]:
    """``from room.module import names`` statements of a module outside that room."""
    own = room_of(module_name(path))
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
            continue
        room = room_of(node.module)
        if room and room != own and node.module != room and not imports_modules(node):
            found.append((node, room))
    return found


def imports_modules(node: ast.ImportFrom) -> bool:
    return any(resolves(f"{node.module}.{alias.name}") for alias in node.names)


def write_init(room: str, names: dict[str, str]) -> None:
    init = ROOT.joinpath(*room.split(".")) / "__init__.py"
    by_module: dict[str, list[str]] = {}
    # isort's order within one import: CONSTANTS, Classes, functions (as ruff sorts them).
    for name, module in sorted(names.items(), key=lambda item: (kind_rank(item[0]), item[0])):
        by_module.setdefault(module, []).append(name)
    imports = "\n".join(render_imports({m: n}, 0) for m, n in sorted(by_module.items()))
    listed = "".join(f'    "{name}",\n' for name in sorted(names))
    text = f"{docstring(ROOMS[room])}\n{imports}\n\n__all__ = [\n{listed}]\n"
    if not init.exists() or init.read_text(encoding="utf-8") != text:
        init.write_text(text, encoding="utf-8")
        git("add", rel(init))
        print(f"wrote   {rel(init)} ({len(names)} names)")


def kind_rank(name: str) -> int:
    return 0 if name.isupper() else 1 if name[:1].isupper() else 2


def route_through_front_doors(exports: dict[str, dict[str, str]]) -> None:
    for path in python_files():
        edits = []
        for node, room in foreign_imports(path):
            public = exports.get(room, {})
            if all(alias.name in public for alias in node.names):
                names = [
                    alias.name if not alias.asname else f"{alias.name} as {alias.asname}"
                    for alias in node.names
                ]
                edits.append((node, render_imports({room: names}, node.col_offset)))
        if edits:
            source = path.read_text(encoding="utf-8")
            path.write_text(apply_edits(source, edits), encoding="utf-8")
            print(f"rewrote {rel(path)} (through front doors)")


# --- 6. the composition root in the build -----------------------------------------------------


def wire_composition_root() -> None:
    for package in PACKAGES:
        ensure_package(ROOT / package)
    provisioning_init = ROOT / "provisioning" / "__init__.py"
    if provisioning_init.read_text(encoding="utf-8") != PROVISIONING_DOC:
        provisioning_init.write_text(PROVISIONING_DOC, encoding="utf-8")
        print("rewrote provisioning/__init__.py (its rooms)")
    edit(
        "pyproject.toml",
        [
            (
                'include = ["gateway*", "provisioning*"]',
                'include = ["gateway*", "provisioning*", "scimgw*"]',
            ),
            (
                'packages = ["gateway", "provisioning"]',
                'packages = ["gateway", "provisioning", "scimgw"]',
            ),
        ],
    )
    edit(
        "Makefile",
        [
            (
                "ruff check gateway provisioning tests benchmarks",
                "ruff check gateway provisioning scimgw tests benchmarks",
            ),
            (
                "ruff check gateway provisioning tests\n",
                "ruff check gateway provisioning scimgw tests\n",
            ),
        ],
    )
    edit(
        "Dockerfile",
        [
            (
                "COPY provisioning ./provisioning\n",
                "COPY provisioning ./provisioning\nCOPY scimgw ./scimgw\n",
            )
        ],
    )


def edit(name: str, replacements: list[tuple[str, str]]) -> None:
    path = ROOT / name
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    new = text
    for before, after in replacements:
        if after not in new:
            new = new.replace(before, after)
    if new != text:
        path.write_text(new, encoding="utf-8")
        print(f"rewrote {name} (scimgw package)")


# --- 7. tidy ----------------------------------------------------------------------------------


def sort_imports() -> None:
    beside_python = str(Path(sys.executable).parent)
    ruff = (
        shutil.which("ruff", path=str(ROOT / ".venv" / "bin"))
        or shutil.which("ruff", path=beside_python)
        or shutil.which("ruff")
    )
    if ruff is None:
        print("ruff not found: run `ruff check --select I --fix` yourself")
        return
    roots = [root for root in PYTHON_ROOTS if (ROOT / root).exists()]
    subprocess.run([ruff, "check", "-q", "--select", "I", "--fix", *roots], cwd=ROOT, check=False)
    # A longer module path can push a comment past the line length: reported, not reflowed.
    subprocess.run([ruff, "check", "-q", "--select", "E501", *roots], cwd=ROOT, check=False)


def git(*args: str) -> None:
    subprocess.run(["git", *args], cwd=ROOT, check=True)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


if __name__ == "__main__":
    sys.exit(main())
