"""When a connection runs by itself, and whom its runs report to (S2.6, S5.8).

A ``schedule:`` block says when the scheduler (provisioning.engine.schedules) runs a
connection: every interval or on a cron expression, the first time ``initial_delay`` after
the schedule was switched on. A ``report:`` block names who receives an email after each
scheduled run, or only after a failed one. Only the shape lives here.
"""

import re
from datetime import timedelta
from typing import Any, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Longest interval or delay accepted: a year (a typo of units must not schedule "never").
MAX_SECONDS = 366 * 24 * 3600
MAX_RECIPIENTS = 20

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|seconds?|min|minutes?|h|hours?|d|days?)\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: An address as mail servers take it: local@domain, no spaces; bounded by RFC 5321 (254).
_ADDRESS = re.compile(r"[^@\s<>,;]{1,64}@[^@\s<>,;]{1,189}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_duration(value: Any) -> Any:
    """``"12h"``, ``"30 min"``, ``"1d"`` or a number of seconds, as seconds."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if not match:
            raise ValueError('expected a duration such as "90s", "30min", "12h" or "1d"')
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0]]
    return value


class Schedule(_Model):
    """Run the connection every ``every`` or on ``cron`` (UTC), after ``initial_delay``.

    ``first run 12 hours after activation, then every 24 hours`` (S2.6) is
    ``{every: 24h, initial_delay: 12h}``. Activation is the first time a scheduler sees
    the schedule enabled; switching ``enabled`` off and on again activates it anew.
    """

    enabled: bool = True
    every: float | None = Field(None, ge=1, le=MAX_SECONDS, description="seconds")
    #: Five fields (minute hour day month weekday) or six (seconds last), in UTC.
    cron: str | None = Field(None, max_length=120)
    initial_delay: float = Field(0, ge=0, le=MAX_SECONDS, description="seconds")

    @field_validator("every", "initial_delay", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not croniter.is_valid(value):
            raise ValueError(f"not a cron expression: {value!r}")
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> "Schedule":
        if (self.every is None) == (self.cron is None):
            raise ValueError("a schedule needs exactly one of every or cron")
        return self

    @property
    def interval(self) -> timedelta | None:
        return None if self.every is None else timedelta(seconds=self.every)

    @property
    def delay(self) -> timedelta:
        return timedelta(seconds=self.initial_delay)


class RunReport(_Model):
    """Email a report of each scheduled run to ``to``: ``when`` always, or on failure only.

    The SMTP server and its credentials come from the environment (``SCIMGW_SMTP_*``,
    gateway.settings.SmtpSettings), never from this file.
    """

    to: list[str] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    when: Literal["always", "failure"] = "always"

    @model_validator(mode="before")
    @classmethod
    def _on(cls, data: Any) -> Any:
        # ``on: failure`` reads naturally, but YAML 1.1 (PyYAML) loads the key ``on`` as
        # the boolean true: accepted as ``when``, whichever way it arrives.
        if isinstance(data, dict):
            for key in (True, "on"):
                if key in data and "when" not in data:
                    data = {**{k: v for k, v in data.items() if k != key}, "when": data[key]}
        return data

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _ADDRESS.fullmatch(address):
                raise ValueError(f"not an email address: {address[:100]!r}")
        return value
