"""tools/restructure.py on a small tree in the old layout: what it moves, what it rewrites,
and that a second run changes nothing.

restructure: keep old names (this file writes the old layout on purpose).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

OLD_LAYOUT = {
    "gateway/__init__.py": "",
    "gateway/store/__init__.py": "",
    "gateway/store/tables.py": "OUTBOX = 'outbox'\n",
    "gateway/service.py": "from provisioning.outbox import enqueue\n\nWRITE = enqueue\n",
    "gateway/cli.py": (
        "import uvicorn\n\n\ndef serve() -> None:\n"
        '    uvicorn.run("gateway.asgi:app")\n'
    ),
    "gateway/asgi.py": "app = None\n",
    "provisioning/__init__.py": '"""Outbound provisioning: the outbox today; workers next."""\n',
    "provisioning/outbox.py": "from gateway.store.tables import OUTBOX\n\n\ndef enqueue() -> str:\n"
    "    return OUTBOX\n",
    "provisioning/claims.py": "class Claim:\n    pass\n",
    "provisioning/worker.py": (
        "from provisioning import claims\n\n\nclass Worker:\n    def run(self) -> object:\n"
        "        from provisioning.claims import Claim\n\n"
        "        return claims, Claim\n"
    ),
    "tests/test_worker.py": (
        'TARGET = "provisioning.worker.Worker.run"\n'
        'COMMAND = ["python", "-m", "gateway.cli", "serve"]\n'
    ),
    "docs/provisioning.md": "The loop is `provisioning/worker.py`; see provisioning.claims.\n",
    "pyproject.toml": (
        '[project.scripts]\nscimgw = "gateway.cli:app"\n\n'
        '[tool.setuptools.packages.find]\ninclude = ["gateway*", "provisioning*"]\n'
    ),
}


@pytest.fixture
def old_tree(tmp_path: Path) -> Path:
    for name, text in OLD_LAYOUT.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "restructure.py", tmp_path / "tools" / "restructure.py")
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "old layout"]):
        git(tmp_path, *command)
    return tmp_path


def git(root: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=root, check=True, capture_output=True, text=True
    )
    return done.stdout


def restructure(root: Path) -> str:
    done = subprocess.run(
        [sys.executable, "tools/restructure.py"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def read(root: Path, name: str) -> str:
    return (root / name).read_text(encoding="utf-8")


def test_restructure_moves_modules_into_rooms_and_the_composition_root(old_tree: Path) -> None:
    report = restructure(old_tree)

    assert "moved   provisioning/worker.py -> provisioning/engine/worker.py" in report
    assert not (old_tree / "provisioning/outbox.py").exists()
    assert (old_tree / "gateway/store/outbox.py").exists()
    assert (old_tree / "scimgw/cli.py").exists()
    assert (old_tree / "scimgw/__init__.py").exists()
    assert (old_tree / "provisioning/records/claims.py").exists()


def test_restructure_rewrites_every_kind_of_reference(old_tree: Path) -> None:
    restructure(old_tree)

    assert "from gateway.store.outbox import enqueue" in read(old_tree, "gateway/service.py")
    worker = read(old_tree, "provisioning/engine/worker.py")
    assert "from provisioning.records import claims" in worker
    # The function-level import goes through the records room's front door.
    assert "        from provisioning.records import Claim" in worker
    assert '"provisioning.engine.worker.Worker.run"' in read(old_tree, "tests/test_worker.py")
    assert '"scimgw.cli"' in read(old_tree, "tests/test_worker.py")
    assert '"scimgw.asgi:app"' in read(old_tree, "scimgw/cli.py")
    assert "`provisioning/engine/worker.py`" in read(old_tree, "docs/provisioning.md")
    pyproject = read(old_tree, "pyproject.toml")
    assert 'scimgw = "scimgw.cli:app"' in pyproject
    assert '"scimgw*"' in pyproject


def test_restructure_gives_a_room_a_front_door_of_what_others_import(old_tree: Path) -> None:
    restructure(old_tree)

    records = read(old_tree, "provisioning/records/__init__.py")
    assert "from provisioning.records.claims import Claim" in records
    assert '__all__ = [\n    "Claim",\n]' in records


def test_restructure_run_twice_changes_nothing(old_tree: Path) -> None:
    restructure(old_tree)
    git(old_tree, "add", "-A")
    git(old_tree, "commit", "-qm", "restructured")

    second = restructure(old_tree)

    assert git(old_tree, "status", "--porcelain") == ""
    assert "moved" not in second and "rewrote" not in second
