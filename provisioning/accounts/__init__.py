"""One event for one remote resource (a user's account, a group): load, decide, carry out
on one path for every type; exports, dry run."""

from provisioning.accounts.backfill import TargetRunner
from provisioning.accounts.decisions import (
    CREATE,
    DEACTIVATE,
    DELETE,
    FAIL,
    SKIP,
    Step,
    Work,
    decide,
)
from provisioning.accounts.execution import REPLACED, Effect, carry_out
from provisioning.accounts.exports import ExportHeld, export_all
from provisioning.accounts.groups import (
    GroupWork,
    decide_group,
    enqueue_groups_of,
    load_group_work,
    takes_groups,
)
from provisioning.accounts.holdings import AnyWork
from provisioning.accounts.reports import enqueue_reports_of
from provisioning.accounts.snapshot import ENTERPRISE, load_work

__all__ = [
    "AnyWork",
    "CREATE",
    "DEACTIVATE",
    "DELETE",
    "ENTERPRISE",
    "Effect",
    "ExportHeld",
    "FAIL",
    "GroupWork",
    "REPLACED",
    "SKIP",
    "Step",
    "TargetRunner",
    "Work",
    "carry_out",
    "decide",
    "decide_group",
    "enqueue_groups_of",
    "enqueue_reports_of",
    "export_all",
    "load_group_work",
    "load_work",
    "takes_groups",
]
