"""A connection's settings as the YAML file declares them (ARCHITECTURE.md, "Configuration").

Only the shape lives here; the engine interprets it. Connector-specific settings go under
``options`` and are validated by the connector.
"""

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.config.outbound_auth import AuthSettings
from gateway.config.schedule import RunReport, Schedule
from gateway.config.vendor_rates import vendor_rate_limit


class _Model(BaseModel):
    # hide_input_in_errors: a secret pasted as a literal must not be echoed by an error.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


_RATE = re.compile(r"\s*(\d+)\s*/\s*(s|sec|second|min|minute|h|hour)\s*")
_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


class RateLimit(_Model):
    """At most ``requests`` calls per ``per_seconds`` (a token bucket of that capacity)."""

    requests: int = Field(ge=1)
    per_seconds: float = Field(60.0, gt=0)

    @classmethod
    def parse(cls, value: Any) -> Any:
        """Accept the short form ``"50/min"`` as well as the mapping."""
        if isinstance(value, str):
            match = _RATE.fullmatch(value)
            if not match:
                raise ValueError('expected "<n>/s", "<n>/min" or "<n>/hour"')
            return {"requests": int(match.group(1)), "per_seconds": _UNIT_SECONDS[match.group(2)]}
        return value

    @property
    def per_second(self) -> float:
        return self.requests / self.per_seconds


MatchKey = Literal["email", "userName", "employeeNumber", "externalId"]


class Matching(_Model):
    """How an existing remote account is found before creating one."""

    key: MatchKey = "email"
    #: Link to an account that existed before scimgw (opt-in: it may belong to someone else).
    adopt_existing: bool = False


class Deprovision(_Model):
    """What happens in the target when a user is deactivated, deleted or leaves scope.

    ``none`` leaves the account as it is: the target owns its people's end (TalentHR fed
    by an LMS in two-way sync, S2.2: an LMS change never terminates an employee).
    """

    action: Literal["deactivate", "delete", "none"] = "deactivate"


class DeletionGuard(_Model):
    """Pause the connection instead of deprovisioning more than this in one window."""

    max_share: float = Field(0.2, gt=0, le=1, description="of the linked accounts")
    max_count: int = Field(100, ge=1)
    #: Below this many linked accounts the share rule does not apply (1 of 3 is 33 %).
    min_linked: int = Field(20, ge=0)
    window_seconds: int = Field(3600, ge=60)


class CircuitBreaker(_Model):
    """Stop calling a target that is down, probe it with one event at a time, and deliver
    the waiting events at once when it answers again (provisioning.engine.breaker)."""

    enabled: bool = True
    #: Consecutive failures (timeouts, refused connections, 408, 5xx) that open it.
    failures: int = Field(5, ge=1)
    #: Between probes while open: also the longest a recovered target waits for its
    #: backlog (5 s: a 30 s outage costs about 6 probes).
    cooldown_seconds: float = Field(5.0, gt=0, le=3600)


SourceMatchKey = Literal["employeeNumber", "email", "userName", "externalId"]


class SourceGuard(_Model):
    """Hold a source run instead of taking access from too many people at once.

    A broken HR export or a wrong scope makes everyone look like a leaver: the run's
    deactivations wait for ``scimgw sync <connection> --confirm`` when they exceed
    ``max_count``, or ``max_share`` of the people the source has linked (from
    ``min_linked`` linked people on). A read that returns no one while people are linked
    is always held.
    """

    max_count: int = Field(100, ge=1)
    max_share: float = Field(0.2, gt=0, le=1)
    min_linked: int = Field(20, ge=0)


class SourceSettings(_Model):
    """How a source connection's people become SCIM users (provisioning.sources).

    ``field_map`` is the read direction of a field map: SCIM path <- source field (a key
    of the vendor's record, dotted for nested objects), with the same entries
    (``from``, ``transform``, ``default``, ``constant``, ``required``) as a target's.
    """

    #: SCIM path <- source field; left out: the connector's default read map.
    field_map: dict[str, Any] | None = None
    #: Entries added to (or replacing entries of) the map in use.
    field_map_extra: dict[str, Any] = Field(default_factory=dict)
    #: The source field holding the person's id in the source (the link key).
    id_field: str = "id"
    #: The source field holding the manager's id in the same source.
    manager_field: str | None = "manager_id"
    #: How a person the source never linked is matched to an existing user, in order;
    #: email is the work email compared case-insensitively.
    match: tuple[SourceMatchKey, ...] = ("employeeNumber", "email")
    #: SCIM paths this source owns: updates touch only these (creates write all mapped
    #: attributes). Left out: every path of the field map, ``active`` and the manager.
    authoritative: tuple[str, ...] | None = None
    #: SCIM paths of the first and the last day of work (joiner and leaver dates).
    start_date: str = "hr:hireDate"
    end_date: str = "hr:terminationDate"
    #: A checkbox field of the source: a person with it checked is skipped (S3.3).
    skip_field: str | None = None
    #: SCIM filter a mapped person must match; leaving it deactivates the user.
    scope: str | None = None
    #: What a person leaving the source (or its scope) costs the user: deactivation,
    #: or deletion when the connection says so; ``keep``: nothing (a source that only
    #: brings people in, such as the LMS of a two-way sync, S2.2).
    on_leave: Literal["deactivate", "delete", "keep"] = "deactivate"
    #: Read only the people changed since the last run's checkpoint (leavers absent from
    #: an incremental read are not deactivated; a full read finds them).
    incremental: bool = False
    guard: SourceGuard = Field(default_factory=SourceGuard)


class TargetConnection(_Model):
    """A target connection: where changes go and how they are translated."""

    type: str
    enabled: bool = True
    direction: Literal["target", "source", "both"] = "target"
    base_url: str = ""
    auth: AuthSettings | None = None
    #: Target field <- SCIM path; replaces the connector's default map when given.
    field_map: dict[str, Any] | None = None
    #: Entries added to (or replacing single entries of) the map in use: one custom field
    #: without copying the connector's whole default map.
    field_map_extra: dict[str, Any] = Field(default_factory=dict)
    #: SCIM filter a user must match to be provisioned (leaving it deprovisions).
    scope: str | None = None
    matching: Matching = Field(default_factory=Matching)
    deprovision: Deprovision = Field(default_factory=Deprovision)
    #: Left out: the vendor's documented rate (gateway/config/vendor_rates.py), if any;
    #: ``null``: no pacing at all.
    rate_limit: RateLimit | None = None
    concurrency: int = Field(4, ge=1, le=256)
    timeout_seconds: float = Field(30.0, gt=0)
    #: With the backoff (2 s doubling, capped at 1 h, full jitter) 15 attempts span hours.
    max_attempts: int = Field(15, ge=1)
    guard: DeletionGuard = Field(default_factory=DeletionGuard)
    breaker: CircuitBreaker = Field(default_factory=CircuitBreaker)
    #: Create accounts but never update existing ones: the target owns later edits
    #: (Lucca, S4.6; TalentHR, S2.2). Deprovisioning still applies.
    create_only: bool = False
    #: Runs by itself on this schedule (provisioning.engine.schedules); none: manual only.
    schedule: Schedule | None = None
    #: Who is emailed after each scheduled run (or after a failed one only).
    report: RunReport | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    #: A source connection's reading of people (direction source or both).
    source: SourceSettings | None = None

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _short_rate(cls, value: Any) -> Any:
        return RateLimit.parse(value)

    @model_validator(mode="before")
    @classmethod
    def _vendor_rate(cls, data: Any) -> Any:
        # Only when the key is absent: an explicit null must stay "no pacing".
        if isinstance(data, dict) and "rate_limit" not in data:
            default = vendor_rate_limit(data.get("type"))
            if default is not None:
                return {**data, "rate_limit": default}
        return data
