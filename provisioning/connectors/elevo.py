"""Elevo (performance reviews): its user synchronisation reads a CSV file dropped on SFTP.

Elevo has no public user API (reference/target-apis.md §6, seed integration S3.5); besides
HRIS connectors it synchronises users from a file uploaded to Elevo's own SFTP server. The
generic :class:`~provisioning.connectors.csv_sftp.CsvSftpConnector` does the work (atomic
upload, host key checks, typed errors); this module declares Elevo's file as data and
leaves suspended people out of it. docs/connectors/elevo.md has the configuration.

Vendor facts, verified [V] or assumed [A]:

- [V] Columns ``registration_number, first_name, last_name, email, username,
  manager_email, manager_username, job_title, team_name, work_start_date``; ``email`` is
  required when ``username`` is empty and the other way round; both identify the user
  and are unique (docs.elevo.fr/hc/en-us/articles/4403017928593).
- [V] Synchronised by SFTP, users absent from the file are suspended on Elevo, not deleted
  (docs.elevo.fr/hc/en-us/articles/4404721974417): so a deactivated user leaves the file,
  and review history is kept (S3.3).
- [V] Elevo's SFTP account is secured by the customer's SSH key, with the customer's IP
  addresses allow-listed (same article): a private key is required.
- [A] ``work_start_date`` is ISO 8601 (``2024-05-01``), as Elevo's other import files
  state for their dates (docs.elevo.fr/hc/en-us/articles/10670883833361).
- [A] CSV as RFC 4180, UTF-8, header first, as those other import files state.
- [A] Files go to ``/uploads/users``, the folder Elevo's review-history import names
  (docs.elevo.fr/hc/en-us/articles/4408793026321); Elevo confirms it at set-up.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import model_validator

from provisioning.connectors.base import DeliveryContext
from provisioning.connectors.csv_sftp import CsvSftpConnector, CsvSftpOptions
from provisioning.errors import MappingError

#: [V] The columns of Elevo's user file, in the order its template lists them.
ELEVO_COLUMNS = (
    "registration_number",
    "first_name",
    "last_name",
    "email",
    "username",
    "manager_email",
    "manager_username",
    "job_title",
    "team_name",
    "work_start_date",
)
#: [V] Each identifies a user; a row needs at least one of them.
ELEVO_KEY_COLUMNS = ("email", "username")
#: The mapped field that says whether a user is active; read, never written as a column.
ELEVO_STATUS_FIELD = "active"
#: [A] ISO 8601 dates.
ELEVO_DATE_FORMAT = "%Y-%m-%d"
#: [A] Elevo's users folder.
ELEVO_DIRECTORY = "/uploads/users"
#: [A] One new file per run, so Elevo sees every run as a new drop.
ELEVO_FILENAME = "users_{date:%Y%m%d}_{time:%H%M%S}.csv"


class ElevoOptions(CsvSftpOptions):
    """The ``options:`` of an ``elevo`` connection: those of ``csv_sftp`` with Elevo's
    folder and file name as defaults, and a private key required.
    """

    directory: str = ELEVO_DIRECTORY
    filename: str = ELEVO_FILENAME

    @model_validator(mode="after")
    def _ssh_key(self) -> "ElevoOptions":
        if self.private_key is None:
            raise ValueError(
                "Elevo's SFTP accepts SSH keys only: set private_key (a secret reference) "
                "to the key whose public half Elevo registered"
            )
        return self


class ElevoConnector(CsvSftpConnector):
    """Elevo's user file over SFTP: one complete file per run of the active users.

    Deactivated users are left out, which Elevo reads as "suspend"; the field map must
    therefore give ``active`` as true or false for every user (the default map does).
    """

    options_model: ClassVar[type[CsvSftpOptions]] = ElevoOptions
    type: ClassVar[str] = "elevo"
    layout: ClassVar[tuple[str, ...]] = ELEVO_COLUMNS
    key_columns: ClassVar[tuple[str, ...]] = ELEVO_KEY_COLUMNS
    default_field_map: ClassVar[Mapping[str, Any]] = {
        "registration_number": "enterprise:employeeNumber",
        "first_name": "name.givenName",
        "last_name": "name.familyName",
        "email": {"from": ['emails[type eq "work"].value', "emails[primary eq true].value"]},
        # username and manager_username stay empty: Elevo wants them for people without an
        # email, and a username Elevo does not know would become a second identity.
        "manager_email": {"transform": [{"manager": "email"}]},
        "job_title": "title",
        "team_name": "enterprise:department",
        "work_start_date": {"from": "hr:hireDate", "transform": [{"date": ELEVO_DATE_FORMAT}]},
        # SCIM leaves ``active`` unset for a new user; the engine reads that as active.
        ELEVO_STATUS_FIELD: {"from": "active", "default": True},
    }

    async def export(self, rows: list[Mapping[str, Any]], context: DeliveryContext) -> str:
        """Upload the active users' rows (without the status field); return the file name."""
        return await super().export(active_rows(rows), context)


def active_rows(rows: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows of active users, without :data:`ELEVO_STATUS_FIELD`, in the same order.

    Raises:
        MappingError: a row's status is not a boolean (the field map lacks ``active`` or
            transforms it), or an active row has neither email nor username.
    """
    kept: list[Mapping[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        status = row.get(ELEVO_STATUS_FIELD)
        if not isinstance(status, bool):
            raise MappingError(
                f"row {number}: the field map must give {ELEVO_STATUS_FIELD!r} as true or "
                "false (e.g. active: {from: active, default: true}); Elevo suspends users "
                "left out of the file"
            )
        if not status:
            continue
        person = {key: value for key, value in row.items() if key != ELEVO_STATUS_FIELD}
        if not any(person.get(column) not in (None, "") for column in ELEVO_KEY_COLUMNS):
            raise MappingError(f"row {number}: Elevo needs an email or a username")
        kept.append(person)
    return kept
