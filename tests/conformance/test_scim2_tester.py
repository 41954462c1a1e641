"""scim2-tester's whole battery against the real app, served by uvicorn on a socket.

Every check must end in a passing status; a failure prints each failing check's title,
reason and data so the regression is visible in CI output.

The tenant declares custom fields, so the battery covers ``customFields`` too. Its token
has the ``scim:sensitive`` scope, as an HR system's would: scim2-tester compares a whole
extension it wrote with what it reads back, write-only sub-attributes included, so only
a caller that may read dateOfBirth and ssn can pass that comparison. Ordinary tokens never
see them (tests/gateway/scim/test_users.py).
"""

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server
from sqlalchemy.engine import Engine

from gateway.auth.tokens import create_token
from gateway.config.file import GatewayConfig, parse_config
from gateway.scim.discovery import provider

PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.SKIPPED}


@pytest.fixture
def config() -> GatewayConfig:
    # dateTime fields are left out: scim2-tester 0.5 fills every attribute it cannot
    # type with a UUID string, which a dateTime rightly refuses.
    fields = {"costCode": "string", "onLeave": "boolean", "grade": "integer"}
    return parse_config({"tenants": {"acme": {"custom_fields": fields}}})


@pytest.fixture
def token(engine: Engine) -> str:
    return create_token(engine, "acme", "hr", ("scim:read", "scim:write", "scim:sensitive"))


def test_scim2_tester_passes_every_check(live_server, config: GatewayConfig) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {live_server.token}"}
    with httpx2.Client(base_url=live_server.url, headers=headers, timeout=30) as http:
        # The server's own models: their examples show the HR dates' form, which the
        # published schema can only call a string (SCIM has no date type).
        models = provider(config.tenant("acme").custom_field_spec(), sensitive_reader=True)
        client = SyncSCIMClient(http, provider=models)
        results = check_server(client)
    assert len(results) > 50, f"only {len(results)} checks ran"
    failures = [
        f"{r.status.name} {r.title}: {r.reason} {r.data!r:.300}"
        for r in results
        if r.status not in PASSING
    ]
    executed = [r for r in results if r.status is not Status.SKIPPED]
    assert not failures, "\n".join(failures)
    assert len(executed) > 40
