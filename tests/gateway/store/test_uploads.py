"""The bulkUpload results' retention, on SQLite and PostgreSQL."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from gateway.store import uploads
from gateway.store.database import writer

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _result(tenant: str, received: datetime) -> uploads.UploadResult:
    return uploads.UploadResult(str(uuid.uuid4()), tenant, "hr", received, received, {}, [])


def test_results_older_than_the_kept_days_go_when_a_new_one_is_saved(engine: Engine) -> None:
    old = _result("acme", NOW - timedelta(days=31))
    recent = _result("acme", NOW - timedelta(days=29))
    other_tenant = _result("globex", NOW - timedelta(days=31))
    with writer(engine).begin() as connection:
        for result in (old, recent, other_tenant):
            uploads.save(connection, result, keep_days=365, keep=100)
        uploads.save(connection, _result("acme", NOW), keep_days=30, keep=100)
    with engine.connect() as connection:
        assert uploads.load(connection, "acme", old.id) is None
        assert uploads.load(connection, "acme", recent.id) is not None
        # each tenant's results are pruned by its own pushes
        assert uploads.load(connection, "globex", other_tenant.id) is not None
        assert uploads.load(connection, "acme", other_tenant.id) is None


def test_a_result_reads_back_as_saved(engine: Engine) -> None:
    saved = uploads.UploadResult(
        str(uuid.uuid4()),
        "acme",
        "hr",
        NOW,
        NOW + timedelta(seconds=1),
        {"created": 1, "updated": 0, "unchanged": 0, "failed": 0},
        [{"externalId": "1", "status": "created", "id": "u1"}],
    )
    with writer(engine).begin() as connection:
        uploads.save(connection, saved, keep_days=30, keep=100)
    with engine.connect() as connection:
        assert uploads.load(connection, "acme", saved.id) == saved
