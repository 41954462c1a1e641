"""Eloops (employee engagement): its member import is a CSV file on an SFTP server.

Eloops has no public user API (reference/target-apis.md §6, seed integration S1.6): it
reads members from files dropped in an SFTP directory that the customer runs and Eloops is
given access to. The generic :class:`~provisioning.connectors.csv_sftp.CsvSftpConnector`
does the work (atomic upload, host key checks, typed errors); this module declares Eloops'
file as data. docs/connectors/eloops.md has the configuration.

Vendor facts, verified [V] or assumed [A]:

- [V] The file's name follows a pattern agreed with Eloops, built from a prefix,
  ``%month%``, ``%day%``, ``%year%``, ``%hour%``, ``%invitation_code%`` and a suffix, with a
  ``.csv`` (or ``.xlsx``) extension; example ``MyCompanyName_12_09_2019_9_InvitationCode_
  mysuffix.csv`` (help.eloops.com/en/articles/3736346).
- [V] Files are UTF-8 (same article): the generic connector's default encoding.
- [V] Eloops connects with a host name, a username and a password (same article).
- [A] The columns (no layout is published; target-apis.md §6): ``email, first_name,
  last_name, employee_id, department, manager_email, active``.
- [A] People are keyed by email: two rows with one email fail the run.
- [A] A leaver stays in the file with ``active`` = ``false``; the article only says that
  members are added and removed through the files.
- [A] Sign-in is SSO with the IdP's username, usually the work email compared
  case-insensitively (S1.3), so emails are written in lower case.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

from provisioning.connectors.csv_sftp import CsvSftpConnector, CsvSftpOptions

#: [A] The columns of Eloops' member file, in this order.
ELOOPS_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "employee_id",
    "department",
    "manager_email",
    "active",
)
#: [A] Eloops identifies members by email.
ELOOPS_KEY_COLUMNS = ("email",)
#: [V] the documented ``Prefix_%month%_%day%_%year%_..._suffix.csv`` pattern, with the
#: tenant as prefix and ``users`` as suffix [A]. No hour: Eloops' example shows it
#: unpadded ("9") and strftime pads it.
ELOOPS_FILENAME = "{tenant}_{date:%m_%d_%Y}_users.csv"


class EloopsOptions(CsvSftpOptions):
    """The ``options:`` of an ``eloops`` connection: those of ``csv_sftp`` with Eloops'
    file name as the default (see :class:`~provisioning.connectors.csv_sftp.CsvSftpOptions`).
    """

    filename: str = ELOOPS_FILENAME


class EloopsConnector(CsvSftpConnector):
    """Eloops' member file over SFTP: one complete file per run, leavers marked inactive."""

    options_model: ClassVar[type[CsvSftpOptions]] = EloopsOptions
    type: ClassVar[str] = "eloops"
    layout: ClassVar[tuple[str, ...]] = ELOOPS_COLUMNS
    key_columns: ClassVar[tuple[str, ...]] = ELOOPS_KEY_COLUMNS
    default_field_map: ClassVar[Mapping[str, Any]] = {
        "email": {
            "from": ['emails[type eq "work"].value', "userName"],
            "transform": ["lower"],
            "required": True,
        },
        "first_name": "name.givenName",
        "last_name": "name.familyName",
        "employee_id": "enterprise:employeeNumber",
        "department": "enterprise:department",
        "manager_email": {"transform": [{"manager": "email"}, "lower"]},
        # SCIM leaves ``active`` unset for a new user; the engine reads that as active.
        "active": {"from": "active", "default": True},
    }
