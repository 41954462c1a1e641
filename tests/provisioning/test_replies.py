"""Delivery rows record the HTTP status the target answered, successes included.

docs/provisioning.md lists the HTTP status among the columns of every delivery row; a
failure always carried it, a success recorded nothing. The target is scimgw itself
(tenant ``remote``), whose answers differ per operation (201 for a create, 200 for a
replace), so each row shows which reply it kept.
"""

from gateway.store.tables import Delivery
from tests.provisioning.harness import Harness
from tests.provisioning.test_reports import Remote, remote  # noqa: F401 (fixture)


async def test_a_create_keeps_the_create_reply_not_the_lookup_before_it_and_an_update_its_own(
    remote: Remote,  # noqa: F811 (fixture)
) -> None:
    harness: Harness = remote.harness
    ada = await harness.create_user("ada")
    await harness.worker.drain()  # GET (lookup by email) 200, then POST 201
    await harness.patch(ada, "title", "Engineer")
    await harness.worker.drain()  # PUT 200
    rows = harness.rows(Delivery, resource_id=ada)
    assert [(d.operation, d.outcome, d.http_status) for d in rows] == [
        ("create", "delivered", 201),
        ("update", "delivered", 200),
    ]
