"""Every SCIM comparison rule gives the same answer in every evaluator.

The rules are those of gateway.store.comparison. Three evaluators apply them: the SQL
compiler (over HTTP, ``GET /Users?filter=emails[...]``, on SQLite and PostgreSQL: the
``client`` fixture is parametrised over both), the value selection of a field map's path
(provisioning.mapping.paths) and the entry selector of a target path
(provisioning.connectors.scim_payload). Each rule is a filter on one element of
``emails``; each user holds one email shaped to tell the rules apart. The Python
evaluators read the documents the gateway returns, so all three judge the same data.

The selector only takes ``eq`` comparisons joined by ``and`` (the entry a target path
describes): for any other rule it must refuse, never answer differently.
"""

from typing import Any

import httpx
import pytest

from provisioning.connectors import scim_payload
from provisioning.errors import MappingError
from provisioning.mapping.paths import is_empty, parse_path

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"

#: userName -> its one email.
EMAILS: dict[str, dict[str, Any]] = {
    "work": {"value": "Ada@Example.com", "type": "Work", "primary": True},
    "home": {"value": "bob@example.com", "type": "home", "primary": False},
    "untyped": {"value": "cy@example.com"},
    "other": {"value": "dee@example.com", "type": "other", "display": "Straße"},
}

#: rule (the filter in brackets) -> the users whose email it selects.
RULES: dict[str, set[str]] = {
    # Strings compare case-insensitively unless caseExact (RFC 7643 §2.2).
    'type eq "work"': {"work"},
    'type eq "WORK"': {"work"},
    'value eq "ada@example.COM"': {"work"},
    # Folding is lower-casing (scim2-models' comparison key), not casefold: ß is not ss.
    'display eq "STRASSE"': set(),
    'display eq "STRAßE"': {"other"},
    # ne is the negation of eq: it selects an element lacking the attribute.
    'type ne "work"': {"home", "untyped", "other"},
    'not (type eq "work")': {"home", "untyped", "other"},
    "primary ne true": {"home", "untyped", "other"},
    # Unassigned and null are one state (RFC 7643 §2.5).
    "type eq null": {"untyped"},
    "display eq null": {"work", "home", "untyped"},
    "type ne null": {"work", "home", "other"},
    "type pr": {"work", "home", "other"},
    "display pr": {"other"},
    # Booleans are values: false is present and equals only false.
    "primary eq false": {"home"},
    "primary pr": {"work", "home"},
    # Substrings and order, case-insensitively.
    'type co "OR"': {"work"},
    'type sw "H"': {"home"},
    'type ew "E"': {"home"},
    'type gt "HOME"': {"work", "other"},
    'type le "home"': {"home"},
    # Logical operators.
    'type eq "work" and primary eq true': {"work"},
    'type eq "work" and primary eq false': set(),
    'type eq "home" or type eq "other"': {"home", "other"},
}


@pytest.fixture
async def documents(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """The users as the gateway stores and returns them, by userName."""
    for name, email in EMAILS.items():
        body = {"schemas": [CORE], "userName": name, "emails": [email]}
        assert (await client.post("/Users", json=body)).status_code == 201
    listed = (await client.get("/Users", params={"count": 100})).json()["Resources"]
    return {user["userName"]: user for user in listed}


async def _sql(client: httpx.AsyncClient, rule: str) -> set[str]:
    response = await client.get("/Users", params={"filter": f"emails[{rule}]", "count": 100})
    assert response.status_code == 200, response.text
    return {user["userName"] for user in response.json()["Resources"]}


def _predicate(documents: dict[str, dict[str, Any]], rule: str) -> set[str]:
    path = parse_path(f"emails[{rule}].value")
    return {name for name, doc in documents.items() if not is_empty(path.read(doc))}


def _selector(documents: dict[str, dict[str, Any]], rule: str) -> set[str] | None:
    """The users the selector finds an entry in, or None when it refuses the rule."""
    try:
        target = scim_payload.parse(f"emails[{rule}].value")
    except MappingError:
        return None
    return {name for name, doc in documents.items() if scim_payload.values(doc, target)}


def _selector_takes(rule: str) -> bool:
    """Whether a rule is within the selector's grammar: ``eq`` on values, joined by ``and``."""
    if rule.startswith("not") or " or " in rule:
        return False
    return all(" eq " in term for term in rule.split(" and "))


@pytest.mark.parametrize("rule", list(RULES))
async def test_every_evaluator_gives_the_rule_its_answer(
    client: httpx.AsyncClient, documents: dict[str, dict[str, Any]], rule: str
) -> None:
    expected = RULES[rule]
    assert await _sql(client, rule) == expected, "SQL"
    assert _predicate(documents, rule) == expected, "field map predicate"
    selected = _selector(documents, rule)
    if _selector_takes(rule):
        assert selected == expected, "target path selector"
    else:
        assert selected is None, "the selector answers a rule it should refuse"
