"""Engine creation, migrations and error wrapping for the catalog database.

SQLite is the default (one embedded file, no server); PostgreSQL is used when a
``postgresql+psycopg://`` URL is given. The schema is created and upgraded only
by the Alembic revisions in ``migrations/``, run programmatically on open.

SQLite specifics, and why:
- WAL journal: readers (a search, ``vigil stats``) never wait for the indexer.
- ``synchronous=NORMAL``: in WAL mode a committed batch survives a killed process;
  only a power cut can lose the last commits, and the indexer redoes those.
- write transactions start with ``BEGIN IMMEDIATE``: the write lock is taken up
  front, so two writers queue on the busy timeout instead of one failing at once
  with a lock-upgrade deadlock (SQLite does not run the busy handler then).
- foreign keys ON, so deleting a source cascades to its frames and vectors.

Read-only catalogs (an archived snapshot, a home the process cannot write): the
SQLite file is opened as a ``mode=ro`` URI (``immutable=1`` when no WAL file is
beside it, so no lock or ``-shm`` file is needed), no migration is attempted
(the schema must already be current), no pragma that writes is issued, and any
write transaction is refused with ``ReadOnlyWorkspaceError`` before it starts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vigil.errors import CatalogError, ReadOnlyWorkspaceError

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_BUSY_TIMEOUT_S = 15.0
WRITE = "vigil_write"  # execution option that makes a SQLite transaction BEGIN IMMEDIATE
_PG_MIGRATION_LOCK = 0x76696731  # pg_advisory_xact_lock key: one migrator at a time


def safe_url(url: URL | str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparseable URL>"
    return parsed.render_as_string(hide_password=True)


def folder_is_writable(folder: Path) -> bool:
    """Whether this process can create files in ``folder`` (an actual write probe).

    A probe rather than ``os.access``: that answers yes for root on a read-only mount,
    and cannot see read-only bind mounts or full disks.
    """
    try:
        handle, name = tempfile.mkstemp(prefix=".vigil-write-probe.", dir=folder)
    except OSError:
        return False
    os.close(handle)
    os.unlink(name)
    return True


def _read_only_sqlite_url(path: Path) -> str:
    """A ``mode=ro`` URI for the SQLite file at ``path`` (``immutable`` with no WAL left)."""
    wal = path.with_name(path.name + "-wal")
    has_wal = wal.exists() and wal.stat().st_size > 0
    options = "mode=ro" if has_wal else "mode=ro&immutable=1"
    return f"sqlite:///file:{quote(str(path))}?{options}&uri=true"


def create_catalog_engine(
    url: str, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S, read_only: bool = False
) -> Engine:
    """An engine for SQLite (WAL, foreign keys, busy timeout) or PostgreSQL.

    ``read_only`` opens SQLite files as read-only URIs and refuses every write transaction.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise CatalogError(
            f"not a database URL: {url!r} (expected sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DB)"
        ) from error
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database)
            if path.is_dir():
                raise CatalogError(f"catalog path is a folder, expected a database file: {path}")
            if not path.parent.is_dir():
                raise CatalogError(
                    f"catalog folder does not exist or is not a folder: {path.parent}"
                )
            if read_only:
                if not path.is_file():
                    raise CatalogError(f"no catalog to open read-only at {path}")
                parsed = make_url(_read_only_sqlite_url(path.resolve()))
        connect_args["timeout"] = busy_timeout_s  # sqlite3's busy handler, in seconds
    elif backend == "postgresql":
        connect_args["connect_timeout"] = max(1, round(busy_timeout_s))
    else:
        raise CatalogError(
            f"unsupported catalog database {backend!r} in {safe_url(parsed)}: "
            "expected sqlite or postgresql"
        )
    try:
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as error:
        raise CatalogError(f"cannot use catalog database {safe_url(parsed)}: {error}") from error
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, busy_timeout_s, read_only=read_only)
    if read_only:
        _refuse_writes(engine)
    return engine


def _refuse_writes(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(WRITE, False):
            raise ReadOnlyWorkspaceError(
                f"cannot change the catalog {engine.url.database or ''}: it is open read-only "
                "(its folder cannot be written, or read_only is set); searching works"
            )


def _configure_sqlite(engine: Engine, busy_timeout_s: float, *, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (see _on_begin), instead
        # of the sqlite3 module's implicit, deferred-only transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not read_only:  # setting the journal mode writes to the file
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest revisions; returns them joined by "+".

    Each pipeline stage owns a branch of revisions (objects, scenarios, models,
    events, api), all rooted in the shared core, so stages evolve their tables
    without renumbering each other's; upgrading to every head applies them all.
    Refuses foreign databases.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    heads = set(script.get_heads())
    with guard("open the catalog", engine.url), engine.connect() as connection:
        connection = connection.execution_options(**{WRITE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            tables = set(inspect(connection).get_table_names())
            if tables and "alembic_version" not in tables:
                raise CatalogError(
                    f"{safe_url(engine.url)} already holds tables {sorted(tables)[:5]} but is "
                    "not a Vigil catalog (no schema version); point the database URL at an "
                    "empty database or a Vigil catalog"
                )
            current = set(MigrationContext.configure(connection).get_current_heads())
            if current == heads:
                return _joined(heads)
            known = {revision.revision for revision in script.walk_revisions()}
            unknown = current - known
            if unknown:
                raise CatalogError(
                    f"{safe_url(engine.url)} has schema revision {sorted(unknown)}, which this "
                    f"Vigil does not know (newest known: {sorted(heads)}); it was written by a "
                    "newer Vigil or is not a Vigil catalog"
                )
            config.attributes["connection"] = connection
            try:
                command.upgrade(config, "heads")
            except CommandError as error:
                raise CatalogError(
                    f"cannot migrate catalog {safe_url(engine.url)}: {error}"
                ) from error
    return _joined(heads)


def check_schema(engine: Engine) -> str:
    """The schema revisions of a catalog opened read-only; refuses one that needs migrating."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with guard("open the catalog read-only", engine.url), engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current != heads:
        raise CatalogError(
            f"{safe_url(engine.url)} is read-only and its schema ({_joined(current) or 'none'}) "
            f"is not this Vigil's ({_joined(heads)}); open it once where it can be written, "
            "so it is migrated"
        )
    return _joined(heads)


def _joined(revisions: set[str]) -> str:
    return "+".join(sorted(revisions))


def _first_line(error: DBAPIError) -> str:
    original = error.orig if error.orig is not None else error
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def session_factories(engine: Engine) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """(reads, writes) session factories; a write session takes the write lock as it begins.

    The one place sessions are made, so every store reads and writes the same way.
    """
    reads = sessionmaker(engine, expire_on_commit=False)
    writes = sessionmaker(engine.execution_options(**{WRITE: True}), expire_on_commit=False)
    return reads, writes


@contextmanager
def guard(action: str, url: URL | str | None = None) -> Iterator[None]:
    """Turn database driver errors into one ``CatalogError`` that says what failed and why."""
    where = f" ({safe_url(url)})" if url is not None else ""
    try:
        yield
    except CatalogError:
        raise
    except DBAPIError as error:
        reason = _first_line(error)
        lowered = reason.lower()
        if "locked" in lowered or "busy" in lowered:
            message = (
                f"could not {action}: the catalog database is locked by another process and "
                f"stayed locked for the whole busy timeout{where}; stop the other writer or "
                f"retry ({reason})"
            )
        elif "not a database" in lowered or "malformed" in lowered:
            message = (
                f"could not {action}: the catalog file is not an SQLite database or is "
                f"corrupt{where} ({reason})"
            )
        elif "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
            message = (
                f"could not {action}: the catalog file cannot be opened for writing{where} "
                f"({reason})"
            )
        else:
            message = f"could not {action}{where}: {reason}"
        raise CatalogError(message) from error
    except SQLAlchemyError as error:
        raise CatalogError(f"could not {action}{where}: {error}") from error
