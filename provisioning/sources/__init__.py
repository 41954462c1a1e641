"""HR and ATS sources: read people, diff against the store, apply through ResourceService,
report the run."""

from provisioning.sources.guard import confirm
from provisioning.sources.registry import SOURCE_TYPES, source_class
from provisioning.sources.runner import SourceRunner
from provisioning.sources.validation import source_problems

__all__ = [
    "SOURCE_TYPES",
    "SourceRunner",
    "confirm",
    "source_class",
    "source_problems",
]
