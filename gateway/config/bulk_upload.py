"""A tenant's ``bulk_upload:`` block: the push endpoint shaped like Entra's bulkUpload.

docs/inbound-entra.md describes the endpoint; this is only the shape of its settings.
"""

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Microsoft Graph's documented rate for bulkUpload: 40 requests per second (target-apis.md
#: §7, [V] learn.microsoft.com/graph/api/synchronization-synchronizationjob-post-bulkupload).
ENTRA_REQUESTS_PER_SECOND = 40.0

#: ``urn:<...>:<Attribute>``: a custom schema's URN, then one attribute name.
_SOURCE = re.compile(r"urn:[A-Za-z0-9][A-Za-z0-9.:_-]*:[A-Za-z][A-Za-z0-9_-]*", re.IGNORECASE)
#: A scimgw attribute path: ``title``, ``name.givenName``, ``<schema URN>:hireDate``,
#: ``<HR URN>:customFields.JobCode`` (RFC 7644 §3.10 notation, no value filters).
_TARGET = re.compile(
    r"(urn:[A-Za-z0-9][A-Za-z0-9.:_-]*:)?[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)?"
)


class BulkUploadSettings(BaseModel):
    """How the tenant's ``POST /scim/v2/bulkUpload`` reads what an HR tool pushes."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    #: Requests accepted per second, per tenant and per process; more is 429 with
    #: ``Retry-After``. Entra's own limit by default.
    requests_per_second: float = Field(ENTRA_REQUESTS_PER_SECOND, gt=0, le=10_000)
    #: Custom schema attributes -> scimgw attribute paths, e.g.
    #: ``urn:contoso:employee:HireDate: urn:scimgw:...:hr:2.0:User:hireDate``.
    attributes: dict[str, str] = Field(default_factory=dict)
    #: How long a request's result stays readable, and how many results a tenant keeps.
    keep_results_days: int = Field(30, ge=1, le=366)
    keep_results: int = Field(10_000, ge=10, le=1_000_000)

    @field_validator("attributes")
    @classmethod
    def _paths(cls, attributes: dict[str, str]) -> dict[str, str]:
        bad_sources = [name for name in attributes if not _SOURCE.fullmatch(name)]
        if bad_sources:
            raise ValueError(
                "keys are a custom schema URN and an attribute, such as"
                f" urn:contoso:employee:HireDate; not: {', '.join(bad_sources)}"
            )
        bad_targets = [path for path in attributes.values() if not _TARGET.fullmatch(path)]
        if bad_targets:
            raise ValueError(
                "values are scimgw attribute paths, such as title or"
                " urn:scimgw:params:scim:schemas:extension:hr:2.0:User:hireDate;"
                f" not: {', '.join(bad_targets)}"
            )
        folded = [name.lower() for name in attributes]
        clashes = sorted({name for name in attributes if folded.count(name.lower()) > 1})
        if clashes:
            raise ValueError(f"names differing only in case: {', '.join(clashes)}")
        return attributes

    def mapped(self) -> dict[str, str]:
        """The attribute map, keyed case-folded: SCIM names are case-insensitive."""
        return {name.lower(): path for name, path in self.attributes.items()}
