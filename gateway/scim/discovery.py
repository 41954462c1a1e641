"""Discovery endpoints (RFC 7644 §4), generated from the real models and the config."""

from functools import cache
from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Pagination,
    Patch,
    ResourceType,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth.tokens import Principal
from gateway.config import ServerConfig
from gateway.errors import NotFoundException
from gateway.runtime import runtime
from gateway.scim.endpoints import base_url, principal
from gateway.scim.http import scim_response
from gateway.scim.listing import LIST_RESPONSE
from gateway.scim.models import (
    CustomFieldSpec,
    Group,
    User,
    hr_extension,
    user_model,
)


@cache
def provider(custom_fields: CustomFieldSpec = (), sensitive_reader: bool = False) -> ScimProvider:
    """The models and resource types published to a caller: its tenant's custom fields,
    and the sensitive HR attributes as readable only when its token may read them."""
    return ScimProvider(
        models=[
            User,
            EnterpriseUser,
            hr_extension(custom_fields, sensitive_reader),
            Group,
        ],
        resource_types=[
            ResourceType.from_resource(user_model(custom_fields, sensitive_reader)),
            ResourceType.from_resource(Group),
        ],
    )


def tenant_provider(request: Request, caller: Principal) -> ScimProvider:
    tenant = runtime(request).config.tenant(caller.tenant)
    return provider(tenant.custom_field_spec(), caller.can("scim:sensitive"))


def service_provider_config(server: ServerConfig) -> ServiceProviderConfig:
    """What the server supports, with the limits it enforces (RFC 7643 §5)."""
    return ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(
            supported=True,
            max_operations=server.bulk_max_operations,
            max_payload_size=server.bulk_max_payload_size,
        ),
        filter=Filter(supported=True, max_results=server.max_results),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        pagination=Pagination(
            cursor=True,
            index=True,
            default_pagination_method="index",
            default_page_size=server.default_count,
            max_page_size=server.max_results,
            cursor_timeout=3600,
        ),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="OAuth Bearer Token",
                description="A scimgw token, or an OAuth2 JWT from the tenant's issuer",
                spec_uri="https://www.rfc-editor.org/info/rfc6750",
                primary=True,
            )
        ],
    )


def _located(
    document: dict[str, Any], request: Request, endpoint: str, name: str | None
) -> dict[str, Any]:
    meta = dict(document.get("meta") or {})
    meta["location"] = (
        f"{base_url(request)}/{endpoint}/{name}" if name else f"{base_url(request)}/{endpoint}"
    )
    meta.setdefault(
        "resourceType", endpoint.rstrip("s") if endpoint != "ServiceProviderConfig" else endpoint
    )
    return {**document, "meta": meta}


def _listing(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(documents),
        "itemsPerPage": len(documents),
        "startIndex": 1,
        "Resources": documents,
    }


def _schemas(request: Request, caller: Principal) -> list[dict[str, Any]]:
    return [
        _located(s.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), request, "Schemas", s.id)
        for s in tenant_provider(request, caller).schemas
    ]


def _resource_types(request: Request, caller: Principal) -> list[dict[str, Any]]:
    return [
        _located(
            r.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE),
            request,
            "ResourceTypes",
            r.id or r.name,
        )
        for r in tenant_provider(request, caller).resource_types
    ]


async def get_service_provider_config(request: Request) -> Response:
    await principal(request, "scim:read")
    config = service_provider_config(runtime(request).config.server)
    body = config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return scim_response(_located(body, request, "ServiceProviderConfig", ""))


async def list_schemas(request: Request) -> Response:
    caller = await principal(request, "scim:read")
    return scim_response(_listing(_schemas(request, caller)))


async def get_schema(request: Request) -> Response:
    caller = await principal(request, "scim:read")
    schemas = _schemas(request, caller)
    return scim_response(_find(schemas, request.path_params["id"], "Schema"))


async def list_resource_types(request: Request) -> Response:
    caller = await principal(request, "scim:read")
    return scim_response(_listing(_resource_types(request, caller)))


async def get_resource_type(request: Request) -> Response:
    caller = await principal(request, "scim:read")
    types = _resource_types(request, caller)
    return scim_response(_find(types, request.path_params["id"], "ResourceType"))


def _find(documents: list[dict[str, Any]], wanted: str, label: str) -> dict[str, Any]:
    for document in documents:
        if str(document.get("id", "")).lower() == wanted.lower():
            return document
    raise NotFoundException(detail=f"{label} {wanted} not found")


def routes() -> list[Route]:
    return [
        Route("/scim/v2/ServiceProviderConfig", get_service_provider_config, methods=["GET"]),
        Route("/scim/v2/Schemas", list_schemas, methods=["GET"]),
        Route("/scim/v2/Schemas/{id}", get_schema, methods=["GET"]),
        Route("/scim/v2/ResourceTypes", list_resource_types, methods=["GET"]),
        Route("/scim/v2/ResourceTypes/{id}", get_resource_type, methods=["GET"]),
    ]
