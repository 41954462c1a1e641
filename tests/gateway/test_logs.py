"""No secret nor sensitive attribute reaches a log line."""

import io
import json
import logging

import httpx
import pytest
import structlog

from gateway import logs
from gateway.logs import REDACTED, redact


def test_redact_replaces_secrets_and_sensitive_attributes_at_any_depth() -> None:
    event = {
        "event": "delivery_failed",
        "Authorization": "Bearer scimgw_abc",
        "user": {
            "userName": "jane",
            "dateOfBirth": "1990-01-01",
            "ext": [{"ssn": "123-45-6789", "hireDate": "2024-01-01"}],
        },
    }
    cleaned = redact(None, "info", event)
    text = json.dumps(cleaned)
    assert "scimgw_abc" not in text and "1990-01-01" not in text and "123-45-6789" not in text
    assert cleaned["user"]["userName"] == "jane"
    assert cleaned["user"]["ext"][0]["hireDate"] == "2024-01-01"
    assert cleaned["user"]["dateOfBirth"] == REDACTED


def test_configured_pipeline_renders_redacted_json() -> None:
    stream = io.StringIO()
    structlog.configure(
        processors=[redact, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    try:
        structlog.get_logger().info("token_created", token="scimgw_secret", tenant="acme")
    finally:
        structlog.reset_defaults()
    line = json.loads(stream.getvalue())
    assert line == {"event": "token_created", "token": REDACTED, "tenant": "acme"}


async def test_http_clients_do_not_log_each_request_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """httpx logs every request's URL at INFO; a query string may carry a key."""
    logs.configure("info")
    try:
        transport = httpx.MockTransport(lambda request: httpx.Response(200))
        with caplog.at_level(logging.INFO):
            async with httpx.AsyncClient(transport=transport) as client:
                await client.get("https://lms.example.com/api/users?api_key=k-123")
            logging.getLogger("gateway").info("still logged")
    finally:  # configure() is process-wide; later tests capture debug events
        structlog.reset_defaults()
        for name in logs.CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
    assert "still logged" in caplog.text
    assert "k-123" not in caplog.text
