"""Engine, session and advanced-alchemy configuration for SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
)
from sqlalchemy import Dialect, Executable, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from kitchen.settings import PROJECT_ROOT, Settings

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def create_engine(settings: Settings) -> AsyncEngine:
    """The one engine of the app: a pooled asyncpg engine, or a SQLite file in WAL mode."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            # Writers wait for the write lock instead of failing at once with "database is locked",
            # but no longer than a statement may take: then the request is refused (503).
            connect_args={"timeout": settings.db_statement_timeout_seconds},
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        # A few more for a burst, closed again when returned (opening one costs a server process).
        max_overflow=8,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args={
            # Connecting, and every statement: a server that stops answering (frozen, or cut off
            # by the network) costs a request a few seconds and a 503, never a hang.
            "timeout": settings.db_pool_timeout_seconds,
            "command_timeout": settings.db_statement_timeout_seconds + 1,
            "server_settings": {"statement_timeout": str(int(settings.db_statement_timeout_seconds * 1000))},
        },
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A connection the server closed while it sat in the pool (a restart) is replaced, not handed out.

    asyncpg notices the closed socket by itself, so this costs no round trip; `pool_pre_ping` would
    send a query on every checkout, which measured 0.2 ms of CPU per request.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the database closed this pooled connection")


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the boards read while a cook's tap writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    _ensure_math_functions(dbapi_connection)


def _ensure_math_functions(dbapi_connection: Any) -> None:
    """`ln` and `floor` for the duration buckets of the station figures, where SQLite was built
    without its math functions."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT ln(1), floor(1.5)")
    except Exception:  # the driver's OperationalError: no such function
        dbapi_connection.create_function("ln", 1, math.log, deterministic=True)
        dbapi_connection.create_function("floor", 1, math.floor, deterministic=True)
    finally:
        cursor.close()


def create_db_config(settings: Settings, engine: AsyncEngine | None = None) -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        engine_instance=engine or create_engine(settings),
        # The service commits itself (then publishes); nothing is committed behind its back.
        before_send_handler=None,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        # Our clock stamps updated_at; the listener would overwrite it with the wall clock.
        enable_touch_updated_timestamp_listener=False,
        engine_config=EngineConfig(),
        alembic_config=AlembicAsyncConfig(
            script_location=str(MIGRATIONS_DIR),
            script_config=str(PROJECT_ROOT / "alembic.ini"),
            version_table_name="alembic_version",
            render_as_batch=True,
            compare_type=True,
        ),
    )


# What a database error means, decided here once: whether the connection survived it (db's own
# statements drop a connection that did not), and whether the database is unavailable (a 503).
# SQLSTATEs of a server that is gone or going: connection exceptions (class 08), shutting down or
# starting up (57P01-57P03), out of connection slots (53300). SQLAlchemy maps asyncpg's exceptions
# for these to a bare DBAPIError, so they are recognised by code, not by class.
# A statement that ran out of its time (57014, statement_timeout) is the database too slow to serve
# the request now: the same answer.
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300", "57014")
# The driver's own errors about its connection (not an answer of the server's).
_CLIENT_SIDE = (asyncpg.exceptions.InterfaceError, asyncpg.exceptions.InternalClientError)
# How soon a client may try again after a 503.
RETRY_AFTER_SECONDS = 2


def is_database_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    cause: BaseException | None = exc
    for _ in range(5):  # the wrapper, the driver adapter's error, the driver's own: a short chain
        if cause is None:
            break
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        if isinstance(cause, (TimeoutError, ConnectionError, *_CLIENT_SIDE)):
            # The client's own timeout (a server that does not answer), a dropped socket, a
            # connection the driver found closed or left mid-operation by a cancelled call.
            return True
        cause = cause.__cause__ or getattr(cause, "orig", None)
    return False


def _is_statement_error(error: BaseException) -> bool:
    """Whether the server refused the statement itself, its connection still good."""
    # asyncpg counts a connection closed mid-operation among the server's errors, too.
    return isinstance(error, asyncpg.PostgresError) and not isinstance(
        error, (asyncpg.PostgresConnectionError, *_CLIENT_SIDE)
    )


class DriverStatement:
    """A prebuilt statement of a hot path that, on PostgreSQL, runs on the asyncpg connection itself.

    SQLAlchemy's execution layer (execution context, result and type processing, the greenlet
    bridge) costs about as much CPU per statement as asyncpg's whole round trip: 0.06 ms, measured.
    One worker has to serve hundreds of order reads and changes a second, so their statements
    skip that layer. They run in the transaction SQLAlchemy has begun (sending its BEGIN themselves
    when they are the first statement), and are committed or rolled back with it. asyncpg already
    returns what SQLAlchemy's types would (aware UTC datetimes, ints, strings), and its errors are
    raised as SQLAlchemy's (`IntegrityError` for a constraint, `DBAPIError` otherwise, the driver's
    error as `.orig`). Outside a transaction (the first statement of a session), and on any other
    database, they run through SQLAlchemy, which begins one.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: tuple[str, tuple[str, ...], dict[str, Any]] | None = None

    def _compile(self, dialect: Dialect) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        if self._compiled is None:
            assert isinstance(self.statement, ClauseElement)
            compiled = self.statement.compile(dialect=dialect)
            assert isinstance(compiled, SQLCompiler)
            self._compiled = (compiled.string, tuple(compiled.positiontup or ()), dict(compiled.params))
        return self._compiled

    async def rows(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        if conn.dialect.name == "postgresql":
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            adapter: Any = raw.dbapi_connection
            if driver is not None and not driver.is_in_transaction() and conn.in_transaction():
                # SQLAlchemy has begun the transaction but sends BEGIN with its first statement;
                # send it as SQLAlchemy's own asyncpg adapter would (its one BEGIN path), so that this
                # statement, too, runs on the driver. (The request's first statement used to be the
                # API key's look-up; with the key known in the process, often it is this one.)
                try:
                    async with adapter._execute_mutex:
                        if adapter._transaction is None:
                            await adapter._start_transaction()
                except Exception as error:
                    # As SQLAlchemy raises it (a connection gone: InterfaceError, i.e. a 503).
                    await conn.invalidate()
                    raise exc.DBAPIError.instance("BEGIN", None, error, Exception, dialect=conn.dialect) from error
            if driver is not None and driver.is_in_transaction():
                sql, names, defaults = self._compile(conn.dialect)
                values = defaults | dict(params)
                try:
                    records: Sequence[Sequence[Any]] = await driver.fetch(sql, *[values[name] for name in names])
                except asyncpg.IntegrityConstraintViolationError as error:
                    # Callers handle SQLAlchemy's errors (the driver's error is kept as `.orig`).
                    raise exc.IntegrityError(sql, None, error) from error
                except Exception as error:
                    if driver.is_closed() or not _is_statement_error(error):
                        # Not the server's answer to the statement but the connection's state
                        # (closed, reset, timed out, left mid-operation by a cancelled call): drop
                        # it, as SQLAlchemy does on a disconnect, so that nothing (not even the
                        # session's closing ROLLBACK) is sent on it again.
                        await conn.invalidate()
                    raise exc.DBAPIError.instance(sql, None, error, Exception, dialect=conn.dialect) from error
                return records
        return (await conn.execute(self.statement, params)).all()
