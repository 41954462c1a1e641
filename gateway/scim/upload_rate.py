"""How fast a tenant may push to ``/scim/v2/bulkUpload``: a token bucket per tenant.

Entra's bulkUpload takes 40 requests per second (target-apis.md §7 [V]) and answers 429
past it; an HR tool written for it expects the same. The bucket holds one second of
requests, so a burst of that many passes and a steady flow above the rate is refused.
The count is per process: N ``scimgw serve`` processes behind a balancer admit N times
the rate (docs/inbound-entra.md).
"""

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class TenantRates:
    """Token buckets keyed by tenant; thread-safe, with an injectable clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, tenant: str, per_second: float) -> int | None:
        """Take one request from the tenant's bucket; None when allowed, else the seconds
        to wait before the next one is (for ``Retry-After``, at least 1)."""
        now = self.clock()
        capacity = max(1.0, per_second)
        with self._lock:
            bucket = self._buckets.setdefault(tenant, _Bucket(capacity, now))
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * per_second)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / per_second))
