"""Every YAML block the README, docs/ and examples/ show is valid, and every complete
configuration among them passes ``scimgw config check``: a user copies what the docs show.

A block is *complete* when it declares ``tenants``; a shorter one (a field map, one
connection's settings) must still be YAML. A commented-out block in an example file is
what a user uncomments: inside a tenant it is merged into that tenant and checked too.
Each ``${NAME}`` a block references is set to a placeholder, as the user would set it.
"""

import re
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import yaml
from typer.testing import CliRunner

from gateway.configfile import parse_yaml
from scimgw.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

_FENCE = re.compile(r"^( *)```ya?ml\n(.*?)^\1```", re.S | re.M)
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FILE_REFERENCE = re.compile(r"(\w+): file:(/\S+)")
#: ``    # connections:`` opens a commented block; deeper ``    #   ...`` lines continue it.
_COMMENTED_KEY = re.compile(r"^( *)# ([a-z_]+:.*)$")


def _markdown_blocks() -> list[tuple[str, str]]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            indent = len(match.group(1))
            body = "\n".join(line[indent:] for line in match.group(2).splitlines())
            line = text[: match.start()].count("\n") + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", body))
    return found


def _commented_blocks(text: str) -> list[tuple[int, int, str]]:
    """(line, indent, YAML) of each commented-out block of keys in an example file."""
    lines, found, index = text.splitlines(), [], 0
    while index < len(lines):
        opening = _COMMENTED_KEY.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, body = len(opening.group(1)), [opening.group(2)]
        prefix = " " * indent + "#   "
        index += 1
        while index < len(lines) and lines[index].startswith(prefix):
            body.append(lines[index][indent + 2 :])
            index += 1
        found.append((index - len(body) + 1, indent, "\n".join(body)))
    return found


def _example_configs() -> list[tuple[str, str]]:
    """Each example file, then the file with each of its commented blocks enabled."""
    found = []
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        found.append((name, text))
        for line, indent, block in _commented_blocks(text):
            if indent == 4:  # inside a tenant
                found.append((f"{name}:{line} (uncommented)", _into_first_tenant(text, block)))
    return found


def _into_first_tenant(text: str, block: str) -> str:
    data = parse_yaml(text)
    tenant = next(iter(data["tenants"].values()))
    tenant.update(parse_yaml(block))
    return yaml.safe_dump(data)


def _secret_file(directory: Path, match: re.Match[str]) -> Path:
    """A stand-in for the secret file the block names (the user creates the real one): an
    SSH key for a ``private_key`` field, which connectors parse when they start."""
    path = directory / Path(match.group(2)).name
    if match.group(1) == "private_key":
        key = asyncssh.generate_private_key("ssh-ed25519").export_private_key()
        path.write_bytes(key)
    else:
        path.write_text(f"placeholder-{path.name}", encoding="utf-8")
    return path


def _cases() -> list[Any]:
    return [pytest.param(body, id=name) for name, body in _markdown_blocks() + _example_configs()]


def _complete(body: str) -> bool:
    data = parse_yaml(body)
    return isinstance(data, dict) and "tenants" in data


def test_the_docs_show_configurations() -> None:
    # Guards the extraction itself: without it a broken fence pattern would pass vacuously.
    complete = [name for name, body in _markdown_blocks() + _example_configs() if _complete(body)]
    assert "docs/provisioning.md:9" in complete
    assert any("(uncommented)" in name for name in complete)


@pytest.mark.parametrize("body", _cases())
def test_a_documented_block_is_yaml_and_a_complete_one_passes_config_check(
    body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = parse_yaml(body)  # raises on a block a user could not paste
    assert data is not None
    if not _complete(body):
        return
    for name in _REFERENCE.findall(body):
        monkeypatch.setenv(name, f"placeholder-{name.lower()}")
    body = _FILE_REFERENCE.sub(
        lambda match: f"{match.group(1)}: file:{_secret_file(tmp_path, match)}", body
    )
    path = tmp_path / "gateway.yaml"
    path.write_text(body, encoding="utf-8")
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert ": ok (" in result.output
