"""The queue and its loop: claim due events, deliver them, settle each outcome."""

from provisioning.engine.background import running
from provisioning.engine.embedded import embedded_worker
from provisioning.engine.mail import Mailer
from provisioning.engine.runstatus import RunStatus, run_statuses
from provisioning.engine.schedules import Scheduler
from provisioning.engine.status import PRIORITY_NAMES, backlogs, format_duration
from provisioning.engine.worker import Worker

__all__ = [
    "Mailer",
    "PRIORITY_NAMES",
    "RunStatus",
    "Scheduler",
    "Worker",
    "backlogs",
    "embedded_worker",
    "format_duration",
    "run_statuses",
    "running",
]
