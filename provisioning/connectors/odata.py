"""OData v4, the protocol of Dynamics 365's data entities: what any OData service shares.

An OData service's literals, query strings, ``$metadata`` (CSDL), error body, headers and
paging are the standard's, not one vendor's; a connector to an OData service declares its
own facts (entity sets, keys, the properties it writes) and reads the protocol from here.
Standard: OData v4.01 Part 1 (protocol), Part 2 (URL conventions), CSDL XML, JSON Format.
"""

import io
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote

from provisioning.connectors.messages import ErrorBody
from provisioning.connectors.paging import NextLink
from provisioning.errors import TargetConfigError

#: Protocol: OData v4 with JSON payloads.
HEADERS: Mapping[str, str] = MappingProxyType(
    {"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"}
)
#: JSON Format §11.4: a collection's rows are ``value``, the next page ``@odata.nextLink``.
PAGES = NextLink(items=("value",), link=("@odata.nextLink",))
#: JSON Format §21: ``{"error": {"code", "message", "innererror"}}`` read as
#: ``code: message``, with ``innererror.message`` when it adds to it.
ERROR = ErrorBody(
    message=(("error", "message"),),
    code=("error", "code"),
    inner=("error", "innererror", "message"),
)
#: The CSDL XML namespace of ``$metadata``'s elements.
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
#: Characters left readable in query values (quotes of literals, commas of $select).
QUERY_SAFE = "',"


def string_literal(value: str) -> str:
    """An OData string literal: single quotes, a quote inside doubled (URL conventions ABNF)."""
    return "'" + value.replace("'", "''") + "'"


def with_query(url: str, query: Mapping[str, str]) -> str:
    """``url`` with ``query``: spaces as %20 (URL conventions), quotes and commas readable."""
    if not query:
        return url
    return url + "?" + "&".join(f"{k}={quote(v, safe=QUERY_SAFE)}" for k, v in query.items())


@dataclass(frozen=True)
class EntitySchema:
    """What ``$metadata`` says about an entity set's type."""

    entity_type: str
    keys: tuple[str, ...]
    #: The kept properties' names -> their types (``Edm.Decimal``, an enum's name...).
    properties: Mapping[str, str]


def parse_metadata(content: bytes, entity_set: str, keep: Callable[[str], bool]) -> EntitySchema:
    """The key and the properties ``keep`` selects of ``entity_set``'s type in a CSDL document.

    A service may describe thousands of entities (F&O's does): each entity type is dropped
    once read. (expat >= 2.4.1, which Python bundles, refuses entity-expansion bombs, and
    ElementTree never fetches external entities.)

    Raises:
        TargetConfigError: the document does not publish the entity set.
    """
    types: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {}
    sets: dict[str, str] = {}
    namespace = ""
    for event, element in ET.iterparse(io.BytesIO(content), events=("start", "end")):
        if event == "start":
            if element.tag == f"{EDM}Schema":
                namespace = element.get("Namespace", "")
            continue
        if element.tag == f"{EDM}EntityType":
            keys = tuple(ref.get("Name", "") for ref in element.iter(f"{EDM}PropertyRef"))
            kept = {
                str(prop.get("Name")): str(prop.get("Type"))
                for prop in element.iter(f"{EDM}Property")
                if keep(str(prop.get("Name")))
            }
            types[f"{namespace}.{element.get('Name')}"] = (keys, kept)
            element.clear()
        elif element.tag == f"{EDM}EntitySet":
            sets[str(element.get("Name"))] = str(element.get("EntityType"))
    entity_type = sets.get(entity_set)
    if entity_type not in types:
        raise TargetConfigError(f"$metadata publishes no entity set {entity_set!r}")
    keys, kept = types[str(entity_type)]
    return EntitySchema(str(entity_type), keys, MappingProxyType(kept))
