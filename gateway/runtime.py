"""What the request handlers work with, built once per app by :func:`gateway.app.create_app`.

Plain attributes on purpose: starlette's ``app.state`` answers every lookup through
``__getattr__`` after a failed ordinary lookup, about 0.3 µs each, and a filtered
``GET /Users`` made a dozen of them (3 % of the request under load).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from gateway.auth.authenticator import Authenticator
    from gateway.config import GatewayConfig
    from gateway.scim.kinds import TenantKinds
    from gateway.scim.listing import ListQueries
    from gateway.scim.locations import BaseUrls
    from gateway.service import ResourceService
    from gateway.settings import Settings
    from gateway.store.calls import StoreCaller


@dataclass
class Runtime:
    settings: "Settings"
    config: "GatewayConfig"
    #: Each tenant's resource kinds (its User model carries its declared custom fields).
    kinds: "TenantKinds"
    base_urls: "BaseUrls"
    list_queries: "ListQueries"
    service: "ResourceService"
    #: How handlers call the synchronous store (inline on SQLite, else in threads).
    store: "StoreCaller"
    authenticator: "Authenticator"


def runtime(request: HTTPConnection) -> Runtime:
    """The runtime of the app serving ``request``."""
    found: Runtime = request.app.runtime
    return found
