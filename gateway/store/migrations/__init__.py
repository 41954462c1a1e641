"""Alembic migrations, run from code: ``scimgw db upgrade`` and the test fixtures.

The same revisions run on SQLite and PostgreSQL.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    """An alembic Config pointing at these migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the latest)."""
    from gateway.store.database import normalize_url

    command.upgrade(alembic_config(normalize_url(url)), revision)


def current(url: str) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    import sqlalchemy as sa
    from alembic.runtime.migration import MigrationContext

    from gateway.store.database import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except sa.exc.OperationalError:
        return None
    finally:
        engine.dispose()
