"""The alembic revisions build exactly the schema the code declares, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from gateway.store.tables import metadata


def test_migrated_schema_matches_the_table_declarations(engine: Engine) -> None:
    """A column added to a table without a revision would break every deployment."""
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
