"""Pieces several contract fakes share: fixed- and sliding-window rate limits, basic auth."""

import base64
import math
from collections import deque
from collections.abc import Callable


class FixedWindow:
    """At most ``limit`` requests per ``window`` seconds, as vendors that count per window do."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._start, self._count = clock(), 0

    def wait(self) -> int | None:
        """None when this request may pass, else the seconds to announce in Retry-After."""
        now = self.clock()
        if now - self._start >= self.window:
            self._start, self._count = now, 0
        self._count += 1
        if self._count <= self.limit:
            return None
        return max(1, math.ceil(self._start + self.window - now))


class SlidingWindow:
    """At most ``limit`` requests in any ``window`` seconds, as vendors counting the last
    minute do. The time is given to :meth:`wait` (a fake's clock may be replaced)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._recent: deque[float] = deque()

    def wait(self, now: float) -> int | None:
        """None when this request may pass (it is counted), else the seconds until one may."""
        while self._recent and self._recent[0] <= now - self.window:
            self._recent.popleft()
        if len(self._recent) >= self.limit:
            return max(1, math.ceil(self._recent[0] + self.window - now))
        self._recent.append(now)
        return None


def basic_username(header: str) -> str | None:
    """The username of a ``Basic`` Authorization header, or None when it is not one."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _, _password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return username
