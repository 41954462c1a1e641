"""Inbound webhooks of a source: what an event names, and the sender's shared secret.

A source whose vendor calls us (an ATS's "candidate hired") declares how to read the
event's body (:class:`HookSource.hook_event`); scimgw records the event, answers 202,
and later reads that one person through the source's API (:class:`PersonSource`). The
event is a trigger, not the data: what it says about the person is read again.
"""

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class InboundEvent:
    """What one accepted event names.

    Attributes:
        subject: the source's id of the person (the link key).
        job: what makes two events of one person different ("" if nothing): the pair is
            the deduplication key.
        hints: what the event says besides the person, handed back to
            :meth:`PersonSource.read_person` (no names, contact details or other values
            the source's API gives again).
    """

    subject: str
    job: str = ""
    hints: Mapping[str, Any] = field(default_factory=dict)


class HookSource(Protocol):
    """A source connector class that reads its vendor's webhook events."""

    @classmethod
    def hook_event(cls, body: Any) -> InboundEvent | None:
        """The event of a parsed JSON body; None for an event type it ignores.

        Raises:
            ValueError: the body is not an event of the declared contract; the message
                says what is wrong (field paths, never values).
        """
        ...


@runtime_checkable
class PersonSource(Protocol):
    """A source connector that reads one person by id (a webhook's or a push's)."""

    async def read_person(self, person_id: str, hints: Mapping[str, Any]) -> Mapping[str, Any]:
        """The person's record, as ``read_page`` would give it, completed by ``hints``.

        Raises PermanentError when the person does not exist or is not to be
        transferred (the message says why), other DeliveryErrors as ``read_page``.
        """
        ...


def secret_matches(expected: str, given: str | None) -> bool:
    """Whether ``given`` is the shared secret, compared in constant time."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
