"""Alembic environment: migrate the database named in the Config's attributes."""

from alembic import context

from gateway.store.database import create_engine
from gateway.store.tables import metadata

config = context.config


def run_migrations() -> None:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set the Config's database_url or sqlalchemy.url")
    engine = create_engine(url, poolclass=__import__("sqlalchemy").pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
