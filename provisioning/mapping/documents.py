"""Writing values into a SCIM User document at a path: the read direction's other half.

A target's field map reads a stored user (:mod:`provisioning.mapping.paths`); a source's
read map writes the user it builds, and a source run copies the attributes it owns from
that user into the stored one. Both need one thing: a path that can get, set and remove
a value in a document. The paths are the field maps' (parsed and bound by
:func:`~provisioning.mapping.paths.parse_path`); a value selection can be written only
when it names its element by equality (``emails[type eq "work"].value``), since that is
what a new element is created with.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.scim.models import ENTERPRISE_SCHEMA, HR_SCHEMA
from provisioning.mapping.paths import is_empty, parse_path

__all__ = ["DocPath", "parse_doc_path"]

_SELECTOR = re.compile(r'^[^\[]+\[\s*(\w+)\s+eq\s+"([^"]*)"\s*\]\.\w+$', re.IGNORECASE)
#: Extension URNs a document lists in ``schemas`` when it holds one of their attributes.
EXTENSIONS = (ENTERPRISE_SCHEMA, HR_SCHEMA)


@dataclass(frozen=True)
class DocPath:
    """Where a value lives in a document, as keys, and how to find its element.

    Attributes:
        text: the path as configured.
        keys: the document keys down to the attribute (the extension URN first).
        exact_last: the last key is a custom field, matched exactly.
        element_key: in a multi-valued attribute, the sub-attribute read and written.
        selector: (sub-attribute, value) naming the element, e.g. ("type", "work").
    """

    text: str
    keys: tuple[str, ...]
    exact_last: bool = False
    element_key: str | None = None
    selector: tuple[str, str] | None = None

    def get(self, doc: Mapping[str, Any]) -> Any:
        """The value at this path, or None."""
        holder = self._holder(doc, create=False)
        if holder is None:
            return None
        if self.element_key is None:
            return _lookup(holder, self.keys[-1], self.exact_last)
        element = self._element(holder, create=False)
        return None if element is None else _lookup(element, self.element_key)

    def set(self, doc: dict[str, Any], value: Any) -> None:
        """Write ``value`` at this path (an empty value removes it)."""
        if is_empty(value):
            self.remove(doc)
            return
        holder = self._holder(doc, create=True)
        assert holder is not None
        _list_schema(doc, self.keys[0])
        if self.element_key is None:
            holder[_key(holder, self.keys[-1], self.exact_last)] = value
            return
        element = self._element(holder, create=True)
        assert element is not None
        element[_key(element, self.element_key)] = value

    def remove(self, doc: dict[str, Any]) -> None:
        """Take the value away; an element left with only its selector goes too."""
        holder = self._holder(doc, create=False)
        if holder is None:
            return
        if self.element_key is None:
            holder.pop(_key(holder, self.keys[-1], self.exact_last), None)
            return
        element = self._element(holder, create=False)
        if element is None:
            return
        element.pop(_key(element, self.element_key), None)
        if self.selector is not None and set(element) <= {self.selector[0], "primary"}:
            items = holder[_key(holder, self.keys[-1])]
            items.remove(element)

    def _holder(self, doc: Mapping[str, Any], *, create: bool) -> dict[str, Any] | None:
        """The object holding the last key (the list's holder for a multi-valued one)."""
        current: Any = doc
        for key in self.keys[:-1]:
            found = _key(current, key)
            if not isinstance(current.get(found), dict):
                if not create:
                    return None
                current[found] = {}
            current = current[found]
        return current if isinstance(current, dict) else None

    def _element(self, holder: dict[str, Any], *, create: bool) -> dict[str, Any] | None:
        name = _key(holder, self.keys[-1])
        items = holder.get(name)
        if not isinstance(items, list):
            if not create:
                return None
            items = holder[name] = []
        for item in items:
            if isinstance(item, dict) and self._selects(item):
                return item
        if not create:
            return None
        element: dict[str, Any] = {}
        if self.selector is not None:
            element[self.selector[0]] = self.selector[1]
        items.append(element)
        return element

    def _selects(self, item: Mapping[str, Any]) -> bool:
        if self.selector is None:
            return True
        value = _lookup(item, self.selector[0])
        return isinstance(value, str) and value.lower() == self.selector[1].lower()


def parse_doc_path(text: str) -> DocPath:
    """Parse a path a value can be written at.

    Raises:
        ValueError: not a SCIM path of a User, or a value selection other than
            ``attribute[sub eq "value"].sub``, which names no element to create.
    """
    path = parse_path(text)
    selector = None
    if path.select is not None:
        match = _SELECTOR.match(text.strip())
        if match is None:
            raise ValueError(f'{text!r}: a written selection is attribute[sub eq "value"].sub')
        selector = (match.group(1), match.group(2))
    elif path.multivalued:
        raise ValueError(f'{text!r}: name one element, e.g. emails[type eq "work"].value')
    return DocPath(text, path.keys, path.exact_last, path.element_key, selector)


def _key(holder: Mapping[str, Any], key: str, exact: bool = False) -> str:
    """The key as the document spells it (attribute names are case-insensitive)."""
    if exact or key in holder:
        return key
    folded = key.lower()
    return next((k for k in holder if k.lower() == folded), key)


def _lookup(holder: Mapping[str, Any], key: str, exact: bool = False) -> Any:
    return holder.get(_key(holder, key, exact))


def _list_schema(doc: dict[str, Any], urn: str) -> None:
    if urn in EXTENSIONS:
        schemas = doc.setdefault("schemas", [])
        if urn not in schemas:
            schemas.append(urn)
