"""Every contract fake a user can serve: ``python -m tests.fakes serve <name>`` (docs/fakes.md).

Each entry names a function ``(people: int) -> Served`` in the fake's module, imported only
when that fake is served. A new fake adds one line here.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: name -> "module:function"
FAKES: dict[str, str] = {
    "hr_json": "tests.fakes.hr_json:serve",
    "employeeconnect": "tests.fakes.employeeconnect:serve",
    "tribalhabits": "tests.fakes.tribalhabits:serve",
    "webhook": "tests.fakes.webhook_receiver:serve",
    "bamboohr": "tests.fakes.bamboohr:serve",
    "talenthr": "tests.fakes.talenthr:serve",
    "talentlms": "tests.fakes.talentlms:serve",
    "taleez": "tests.fakes.taleez:serve",
    "lucca": "tests.fakes.lucca:serve",
    "dynamics365_hr": "tests.fakes.dynamics365_hr:serve",
}


@dataclass(frozen=True)
class Served:
    """A fake ready to serve: its ASGI app and what a user needs to point scimgw at it."""

    app: Any
    #: Appended to the server's address to make the connection's ``base_url``.
    base_path: str = ""
    #: Lines printed under the address: credentials, seeded people, the options to set.
    notes: list[str] = field(default_factory=list)


def builder(name: str) -> Callable[[int], Served]:
    """The serve function of fake ``name``; KeyError names the fakes there are."""
    if name not in FAKES:
        raise KeyError(f"no fake named {name!r}; there are: {', '.join(sorted(FAKES))}")
    module, _, function = FAKES[name].partition(":")
    built: Callable[[int], Served] = getattr(importlib.import_module(module), function)
    return built
