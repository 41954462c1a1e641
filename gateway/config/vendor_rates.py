"""Each vendor's documented call rate: the ``rate_limit`` a connection gets when it sets none.

Data only (no imports from the engine), so :mod:`gateway.config.connection` can read it while
validating a connection, and a connector that does not exist yet (the Taleez source) finds
its default here by its connection ``type``. A connection's own ``rate_limit`` replaces
the default; ``rate_limit: null`` turns pacing off.

Sources: target-apis.md §9, which stands over the earlier sections ([V] verified in the
vendor's own documentation).
"""

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["VENDOR_RATE_LIMITS", "vendor_rate_limit"]

#: Connection ``type`` -> (requests, per seconds).
VENDOR_RATE_LIMITS: Mapping[str, tuple[int, float]] = MappingProxyType(
    {
        # [V] apidocs.talenthr.io: 2,000 requests a minute; 429 documented, no rate headers.
        "talenthr": (2000, 60.0),
        # [V] help.talentlms.com 9651527213468: 200 calls per 5 seconds (the plan's hourly
        # quota on top is read from /ratelimit by the connector when it is throttled).
        "talentlms": (200, 5.0),
        # [V] Taleez OpenAPI v0.4.0: 100 requests a minute (for the coming Taleez source).
        "taleez": (100, 60.0),
        # [V] Tribal Habits API reference: 300 requests a minute, then a one-minute block.
        "tribalhabits": (300, 60.0),
    }
)


def vendor_rate_limit(connection_type: object) -> dict[str, float] | None:
    """The default ``rate_limit`` (mapping form) of a connection ``type``, or None."""
    if not isinstance(connection_type, str) or connection_type not in VENDOR_RATE_LIMITS:
        return None
    requests, per_seconds = VENDOR_RATE_LIMITS[connection_type]
    return {"requests": requests, "per_seconds": per_seconds}
