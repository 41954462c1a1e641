"""``POST /scim/v2/bulkUpload``: an HR tool pushes to scimgw as it pushes to Entra.

Microsoft Entra's API-driven inbound provisioning takes a SCIM BulkRequest at
``/servicePrincipals/{id}/synchronization/jobs/{id}/bulkUpload`` and answers 202 with a
``Location`` where the outcome is read (target-apis.md §7 and §9, [V]). This endpoint
takes the same body with the tenant's SCIM token (``scim:write``), applies it
(gateway.scim.upload_run), stores the outcome, and answers 202 with the ``Location`` of
``GET /scim/v2/bulkUpload/{id}``, which the same tenant reads. docs/inbound-entra.md.

The operations run before the answer: at most 50, each its own short transaction, with
the event loop free between two. A request answered 202 is applied and its result
stored; one cut short (a crash, a lost connection) gets no 202, and the HR tool pushes
it again, which converges (each operation is an upsert by externalId).
"""

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import NotFoundException, TooManyRequests, error_response
from gateway.runtime import Runtime, runtime
from gateway.scim import limits
from gateway.scim.endpoints import base_url, principal, tenant_kinds
from gateway.scim.http import header, read_json, scim_response
from gateway.scim.offload import off_loop
from gateway.scim.upload_rate import TenantRates
from gateway.scim.upload_request import check_media_type, parse_uploads
from gateway.scim.upload_run import STATUSES, Outcome, UploadRun
from gateway.service import ResourceService, timestamp
from gateway.store import uploads
from gateway.store.database import reader

RESULT_SCHEMA = "urn:scimgw:params:scim:api:messages:2.0:BulkUploadResult"
PATH = "/scim/v2/bulkUpload"


async def _accept(request: Request, rates: TenantRates) -> Response:
    """Apply a bulkUpload request, store its result, answer 202 with the result's URL."""
    caller = await principal(request, "scim:write")
    app = runtime(request)
    received = app.service.clock()
    settings = app.config.tenant(caller.tenant).bulk_upload
    wait = rates.take(caller.tenant, settings.requests_per_second)
    if wait is not None:
        return _throttled(settings.requests_per_second, wait)
    check_media_type(header(request, b"content-type"))
    server = app.config.server
    body = await read_json(request, server.bulk_max_payload_size)
    spec = app.config.tenant(caller.tenant).custom_field_spec()
    bounds, integers = limits.Limits.of(server), limits.integer_paths(spec)
    batch = await off_loop(parse_uploads, body, bounds, integers)
    kind = tenant_kinds(request, caller)["users"]
    run = UploadRun(app.service, app.store, caller.tenant, kind, settings.mapped(), spec)
    outcomes = await run.run(batch)
    root = base_url(request)
    result = uploads.UploadResult(
        id=str(uuid.uuid4()),
        tenant=caller.tenant,
        caller=caller.name[:100],
        received=received,
        completed=app.service.clock(),
        counts=_counts(outcomes),
        operations=[outcome.entry(root) for outcome in outcomes],
    )
    await app.store(_save, app.service, result, settings.keep_results_days, settings.keep_results)
    location = f"{root}/bulkUpload/{result.id}"
    return scim_response(document(result, location), 202, {"Location": location})


def _throttled(per_second: float, wait: int) -> Response:
    """429 with ``Retry-After``, as Graph answers past 40 requests a second."""
    detail = (
        f"over {per_second:g} bulkUpload requests per second for this tenant"
        f" (bulk_upload.requests_per_second); retry in {wait} s"
    )
    return error_response(TooManyRequests(detail=detail), headers={"Retry-After": str(wait)})


async def read_result(request: Request) -> Response:
    """The outcome of one bulkUpload request of the caller's tenant; 404 otherwise."""
    caller = await principal(request, "scim:read")
    app = runtime(request)
    result_id = str(request.path_params["id"])
    canonical = _result_id(result_id)
    found = None if canonical is None else await app.store(_load, app, caller.tenant, canonical)
    if canonical is None:
        raise NotFoundException(
            detail="no bulkUpload result: its id is a UUID, as Location gave it"
        )
    if found is None:
        days = app.config.tenant(caller.tenant).bulk_upload.keep_results_days
        raise NotFoundException(
            detail=f"no bulkUpload result {canonical} in this tenant (results are kept"
            f" {days} days, bulk_upload.keep_results_days)"
        )
    return scim_response(document(found, f"{base_url(request)}/bulkUpload/{found.id}"))


def _result_id(text: str) -> str | None:
    """The stored form of a result id (a UUID, any case); None for anything else, which
    no result has: it is not sent to the store (PostgreSQL refuses a NUL in text)."""
    if len(text) > 45:  # a UUID in any of its spellings is shorter
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def document(result: uploads.UploadResult, location: str) -> dict[str, Any]:
    """The result as its URL shows it: counts, then one entry per operation, in order."""
    return {
        "schemas": [RESULT_SCHEMA],
        "id": result.id,
        "received": timestamp(result.received),
        "completed": timestamp(result.completed),
        "counts": result.counts,
        "Operations": result.operations,
        "meta": {"resourceType": "BulkUploadResult", "location": location},
    }


def _counts(outcomes: list[Outcome]) -> dict[str, int]:
    return {status: sum(1 for o in outcomes if o.status == status) for status in STATUSES}


def _save(service: ResourceService, result: uploads.UploadResult, days: int, keep: int) -> None:
    with service.transaction() as tx:
        uploads.save(tx.connection, result, days, keep)


def _load(app: Runtime, tenant: str, result_id: str) -> uploads.UploadResult | None:
    with reader(app.service.engine).connect() as connection:
        return uploads.load(connection, tenant, result_id)


def routes() -> list[Route]:
    """The bulkUpload routes, with the request rates of the app they are built for."""
    rates = TenantRates()

    async def accept(request: Request) -> Response:
        return await _accept(request, rates)

    return [
        Route(PATH, accept, methods=["POST"]),
        Route(f"{PATH}/{{id}}", read_result, methods=["GET"]),
    ]
