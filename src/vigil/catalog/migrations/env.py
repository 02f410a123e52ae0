"""Alembic environment: run only programmatically, on a connection Vigil hands over.

``vigil.catalog.db.migrate`` opens the transaction (taking the write lock first),
so this file only configures the context; there is no alembic.ini and no logging
set-up, so opening a catalog prints nothing.
"""

from __future__ import annotations

from alembic import context

from vigil.catalog.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Vigil migrations run through vigil.catalog.db.migrate(), not the alembic command line"
    )
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch ALTERs
)
with context.begin_transaction():
    context.run_migrations()
