"""The canonical, tenant-scoped store: tables, engine, repository, migrations."""
