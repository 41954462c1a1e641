"""Reading the body of ``POST /scim/v2/bulkUpload``: exactly what Entra's bulkUpload takes.

Microsoft documents the request (target-apis.md §7, [V] Graph API reference
"synchronizationJob: bulkUpload"): ``Content-Type: application/scim+json``, a SCIM
BulkRequest of at most 50 operations, each a ``POST`` to ``/Users`` whose ``data`` is a
user keyed by ``externalId``. A body that is not that shape is refused as a whole (400,
413 or 415, naming the operation), so that a payload scimgw accepts is one Entra would
accept too; an operation within bounds whose values are wrong fails alone, later.
"""

from dataclasses import dataclass
from typing import Any

from gateway.errors import (
    InvalidValueException,
    PayloadTooLargeException,
    SCIMException,
    UnsupportedMediaType,
)
from gateway.scim import limits
from gateway.scim.keys import attribute_key

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
#: Entra's documented cap per request [V].
MAX_OPERATIONS = 50
#: The longest bulkId kept (the result repeats it; Entra's are employee ids).
MAX_BULK_ID = 300
#: The one media type Graph's bulkUpload takes [V]: "the most common cause of 400".
MEDIA_TYPE = "application/scim+json"


@dataclass(frozen=True)
class Upload:
    """One operation of the request: a person to create or update, by externalId."""

    index: int
    bulk_id: str | None
    external_id: str
    data: dict[str, Any]
    #: Why it is refused before it runs (a request bound), if it is.
    refused: SCIMException | None = None
    #: The JSON values its data holds: a large one is validated off the event loop.
    nodes: int = 0

    @property
    def name(self) -> str:
        """How errors name it: its position, and its bulkId when it has one."""
        return f"Operations[{self.index}]" + (f" (bulkId {self.bulk_id})" if self.bulk_id else "")


def check_media_type(content_type: str | None) -> None:
    """Refuse any body not declared ``application/scim+json`` (415)."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != MEDIA_TYPE:
        raise UnsupportedMediaType(
            detail=f"bulkUpload takes Content-Type {MEDIA_TYPE}, as Entra's bulkUpload does;"
            f" got {media_type or 'none'}"
        )


def _field(mapping: dict[str, Any], name: str) -> Any:
    key = attribute_key(mapping, name)
    return None if key is None else mapping[key]


def parse_uploads(
    body: dict[str, Any], bounds: limits.Limits, integers: frozenset[str] = frozenset()
) -> list[Upload]:
    """The operations of a bulkUpload body, in request order.

    Raises:
        InvalidValueException: not a BulkRequest, no operations, or an operation that
            is not a POST of a user with an externalId to /Users (400, naming it).
        PayloadTooLargeException: more than :data:`MAX_OPERATIONS` operations (413).
    """
    schemas = _field(body, "schemas")
    if not isinstance(schemas, list) or BULK_REQUEST not in schemas:
        raise InvalidValueException(detail=f"a bulkUpload body has the schema {BULK_REQUEST}")
    fail_on_errors = _field(body, "failOnErrors")
    if fail_on_errors is not None and (type(fail_on_errors) is not int or fail_on_errors < 1):
        raise InvalidValueException(detail="failOnErrors is null or a positive integer")
    operations = _field(body, "Operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidValueException(detail="Operations is a list of 1 to 50 operations")
    if len(operations) > MAX_OPERATIONS:
        raise PayloadTooLargeException(
            detail=f"the request has {len(operations)} operations; bulkUpload takes at most"
            f" {MAX_OPERATIONS}, as Entra's does: split it"
        )
    return [_upload(index, op, bounds, integers) for index, op in enumerate(operations)]


def _upload(index: int, operation: Any, bounds: limits.Limits, integers: frozenset[str]) -> Upload:
    where = f"Operations[{index}]"
    if not isinstance(operation, dict):
        raise InvalidValueException(detail=f"{where} is not an operation (a JSON object)")
    bulk_id = _field(operation, "bulkId")
    if bulk_id is not None and (not isinstance(bulk_id, str) or len(bulk_id) > MAX_BULK_ID):
        raise InvalidValueException(
            detail=f"{where}: bulkId is a string of at most {MAX_BULK_ID} characters"
        )
    where += f" (bulkId {bulk_id})" if bulk_id else ""
    method, path = _field(operation, "method"), _field(operation, "path")
    if not isinstance(method, str) or method.upper() != "POST":
        raise InvalidValueException(
            detail=f"{where}: method is {method!r}; every bulkUpload operation is a POST"
            " (an existing externalId updates its user)"
        )
    if not isinstance(path, str) or path.strip().rstrip("/").lower() != "/users":
        raise InvalidValueException(detail=f"{where}: path is {path!r}; bulkUpload takes /Users")
    data = _field(operation, "data")
    if not isinstance(data, dict):
        raise InvalidValueException(detail=f"{where}: data is the user, a JSON object")
    external_id = _field(data, "externalId")
    if not isinstance(external_id, str) or not external_id.strip():
        raise InvalidValueException(
            detail=f"{where}: data has no externalId; bulkUpload matches users by it"
        )
    try:
        nodes = limits.check_resource(data, bounds, integers)
    except SCIMException as exc:  # refused alone: the others run
        return Upload(index, bulk_id, external_id, data, refused=exc)
    return Upload(index, bulk_id, external_id, data, nodes=nodes)
