"""Errors of the provisioning engine and its connectors.

Connectors never sleep or retry: they raise one of these and the engine decides
(ARCHITECTURE.md, "Connectors")::

    DeliveryError                 a call to a target did not have its effect
    ├── TransientError            worth retrying: timeouts, connection errors, 408, 5xx
    │   ├── RateLimited           429 (or a vendor's 503 throttle), maybe with Retry-After
    │   └── TargetConfigError     the target is not set up as the mapping needs (retryable:
    │                             an admin can fix the target, e.g. a missing custom field)
    ├── PermanentError            retrying will not help: other 4xx, validation errors
    │   ├── ConflictError         several remote accounts match, or a uniqueness clash
    │   └── MappingError          the resource cannot be turned into the target's payload
    └── AuthError                 the target rejected the credentials (401/403)

Messages must never carry secrets or sensitive attributes: they end up in delivery rows.
"""


class DeliveryError(Exception):
    """Base of every error a connector raises.

    Args:
        message: what went wrong, in the vendor's words where it gave any.
        status: the HTTP status of the failed call, if there was one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TransientError(DeliveryError):
    """A failure that may succeed later; ``retry_after`` (seconds) overrides the backoff."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The target throttled us (429, or a vendor's 503 throttle)."""


class TargetConfigError(TransientError):
    """The target lacks something the mapping needs; retried so a fix on the target heals it."""


class PermanentError(DeliveryError):
    """The target refused the request; retrying the same request will not help."""


class ConflictError(PermanentError):
    """Several remote accounts match, or the target reports a uniqueness clash."""


class MappingError(PermanentError):
    """The resource cannot be mapped to the target's fields (a required field is missing)."""


class AuthError(DeliveryError):
    """The target rejected our credentials."""
