"""Prepared statements: compiled once, run on the driver, with SQLAlchemy's conversions."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from gateway.config.file import parse_config
from gateway.scim.kinds import USER
from gateway.service import ResourceService
from gateway.store.prepared import Prepared

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
AT = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)


def test_rows_written_by_prepared_statements_read_back_as_sqlalchemy_writes_them(
    engine: Engine,
) -> None:
    """Dates, booleans and the JSON document take the same driver form either way, so
    that filters and sorts on ``meta.created`` compare like with like."""
    ensure_tenant(engine, "acme")
    service = ResourceService(engine, parse_config({"tenants": {"acme": {}}}), clock=lambda: AT)
    body = {"schemas": [CORE], "userName": "written@example.com", "active": False}
    created = service.create("acme", USER, body).page.resources[0]
    table = USER.table
    with engine.begin() as connection:
        connection.execute(
            sa.insert(table).values(
                id="by-core",
                tenant_id="acme",
                user_name_key="core@example.com",
                active=False,
                version=1,
                created=AT,
                last_modified=AT,
                doc=created.doc,
            )
        )
        rows = connection.execute(
            sa.select(table.c.created, table.c.last_modified, table.c.active, table.c.doc)
            .where(table.c.id.in_([created.id, "by-core"]))
            .order_by(table.c.user_name_key.desc())
        ).all()
        raw = sa.cast(table.c.created, sa.String())
        texts = connection.execute(sa.select(raw).where(table.c.id.in_([created.id, "by-core"])))
        assert len(set(texts.scalars())) == 1
    assert rows[0] == rows[1]
    assert rows[0].created.replace(tzinfo=UTC) == AT and rows[0].active is False


def test_a_statement_needing_values_to_exist_is_refused(engine: Engine) -> None:
    table = USER.table
    query = sa.select(table.c.id).where(table.c.id.in_(sa.bindparam("ids", expanding=True)))
    with pytest.raises(ValueError):
        Prepared.build(query, engine.dialect)


def test_given_names_take_the_callers_values_over_the_example_one(engine: Engine) -> None:
    table = USER.table
    query = sa.select(sa.func.count()).where(table.c.user_name_key == sa.bindparam("n", "x"))
    prepared = Prepared.build(query, engine.dialect, given=["n"])
    parameters = prepared.parameters({"n": "other"})
    values = parameters.values() if isinstance(parameters, dict) else parameters
    assert "other" in values and "x" not in values
