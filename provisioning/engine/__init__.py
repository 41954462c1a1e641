"""The queue and its loop: claim due events, deliver them, settle each outcome."""

from provisioning.engine.embedded import embedded_worker
from provisioning.engine.status import PRIORITY_NAMES, backlogs, format_duration
from provisioning.engine.worker import Worker

__all__ = [
    "PRIORITY_NAMES",
    "Worker",
    "backlogs",
    "embedded_worker",
    "format_duration",
]
