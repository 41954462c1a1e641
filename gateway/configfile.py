"""Reading the configuration file's YAML, where ``${NAME}`` may be written unquoted.

The documented way to name a secret is ``${NAME}``, and users write it as the docs show,
also inside a flow mapping: ``options: {secret: ${HOOK_SECRET}, path: /hooks}``. There YAML
reads ``{`` as the start of a nested mapping and refuses the whole file, so quoting alone
would not let a user write what the docs show. Before parsing, each reference is replaced
by a shielded form of the same length (``$⦃NAME⦄``, so that a parse error points at the
right column) that YAML reads as plain text in any position (bare, quoted, flow or
block); after parsing, every string gets its reference back. References are never
expanded into the text: a secret's value never meets the YAML parser, so it cannot break
the syntax or appear in a parse error.
"""

import re
from typing import Any

import yaml

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Brackets YAML treats as ordinary characters; a file that already holds them is refused
#: rather than misread.
_OPEN, _CLOSE = "\u2983", "\u2984"
_SHIELDED = re.compile(f"\\${_OPEN}([A-Za-z_][A-Za-z0-9_]*){_CLOSE}")


def parse_yaml(text: str) -> Any:
    """The document in ``text``, with every ``${NAME}`` kept as written.

    Raises:
        yaml.YAMLError: the text is not YAML (the message shows ``${NAME}`` as written).
        ValueError: the text contains the characters used to shield references.
    """
    if _OPEN in text or _CLOSE in text:
        raise ValueError(f"the characters {_OPEN} and {_CLOSE} are reserved; remove them")
    shielded = _REFERENCE.sub(lambda m: f"${_OPEN}{m.group(1)}{_CLOSE}", text)
    try:
        return _restore(yaml.safe_load(shielded))
    except yaml.YAMLError as exc:
        raise yaml.YAMLError(_unshield(str(exc))) from None


def _unshield(text: str) -> str:
    return _SHIELDED.sub(lambda m: "${" + m.group(1) + "}", text)


def _restore(node: Any) -> Any:
    if isinstance(node, str):
        return _unshield(node)
    if isinstance(node, dict):
        return {_restore(key): _restore(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_restore(item) for item in node]
    return node
