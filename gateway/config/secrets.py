"""Secret references in the configuration: ``${ENV_NAME}`` or ``file:/path``.

A secret is never written in the YAML file itself; the file names where it comes from.
References are resolved when the configuration is loaded, so a missing variable fails at
start (and in ``scimgw config check``) with the YAML path of the field, and the value is
held as a :class:`pydantic.SecretStr` that prints as ``**********``.

A command that never uses a secret (``scimgw status``) validates with the context
``{UNRESOLVED: True}``: references are still required, but not read, so it runs where the
delivery secrets are not set.
"""

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr, ValidationInfo

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FILE_PREFIX = "file:"
#: Validation context key: check that secrets are references, without reading them.
UNRESOLVED = "scimgw.unresolved_secrets"


def resolve_reference(value: Any) -> Any:
    """Turn ``${NAME}`` or ``file:/path`` into the secret's value.

    Raises:
        ValueError: the variable is unset, the file unreadable, or the value is a literal
            (a secret pasted into the file would end up in version control).
    """
    if isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a secret reference such as ${NAME} or file:/path")
    if match := _ENV_REFERENCE.fullmatch(value.strip()):
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    if value.startswith(_FILE_PREFIX):
        path = Path(value[len(_FILE_PREFIX) :])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    raise ValueError("secrets must be references (${NAME} or file:/path), not literal values")


def _validate(value: Any, info: ValidationInfo) -> Any:
    unresolved = bool(info.context and info.context.get(UNRESOLVED))
    if unresolved and isinstance(value, str) and _is_reference(value):
        return value  # kept as the reference itself, which is no secret
    return resolve_reference(value)


def _is_reference(value: str) -> bool:
    return bool(_ENV_REFERENCE.fullmatch(value.strip())) or value.startswith(_FILE_PREFIX)


#: A configuration field holding a secret: validated from a reference, stored as SecretStr.
Secret = Annotated[SecretStr, BeforeValidator(_validate)]
