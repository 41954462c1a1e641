"""Which connector reads a source connection, and its ``source:`` settings with the
connector's own defaults (docs/sync-runs.md, "The generic HR source")."""

import importlib
from typing import Any

from gateway.config import SourceSettings, TargetConnection

#: Connection ``type`` -> "module:Class" of its source connector.
SOURCE_TYPES: dict[str, str] = {
    "hr_json": "provisioning.connectors.hr_json:HrJsonSource",
    "bamboohr": "provisioning.connectors.bamboohr_source:BambooHrSource",
    "employeeconnect": "provisioning.connectors.employeeconnect:EmployeeConnectSource",
    "talenthr": "provisioning.connectors.talenthr_source:TalentHrSource",
    "talentlms": "provisioning.connectors.talentlms_source:TalentLmsSource",
    "taleez": "provisioning.connectors.taleez:TaleezSource",
    "dynamics365_hr": "provisioning.connectors.dynamics365_hr_source:Dynamics365HrSource",
}


def source_class(type_name: str) -> Any:
    """The source connector class of a connection ``type``; ValueError if none."""
    try:
        module_name, class_name = SOURCE_TYPES[type_name].split(":")
    except KeyError:
        known = ", ".join(sorted(SOURCE_TYPES))
        raise ValueError(f"unknown source type {type_name!r} (known: {known})") from None
    return getattr(importlib.import_module(module_name), class_name)


def source_settings(connection: TargetConnection, cls: Any) -> SourceSettings:
    """The connection's ``source:`` settings over its connector's own defaults.

    A connector whose vendor names the manager or the skip box its own way declares
    ``source_defaults(options) -> dict`` (BambooHR: ``supervisorEId``, ``skip_elevo_sync``),
    so that they are configured once, in ``options``; what ``source:`` says wins.
    Raises pydantic's ValidationError on options the connector refuses.
    """
    defaults = getattr(cls, "source_defaults", None)
    if defaults is None:
        return connection.source or SourceSettings()
    given = connection.source.model_dump(exclude_unset=True) if connection.source else {}
    return SourceSettings.model_validate({**defaults(connection.options), **given})
