"""A connection made ready to deliver: connector, client, rate limit, map, scope."""

from provisioning.targets.assembly import Target, build_targets
from provisioning.targets.client import build_client
from provisioning.targets.validation import problems

__all__ = [
    "Target",
    "build_client",
    "build_targets",
    "problems",
]
