"""An Ibis backend for the ClickHouse dialect whose SQL runs in chDB (ClickHouse in-process).

Everything up to the SQL text is Ibis's own ClickHouse support: its compiler, its mapping of the
types `DESCRIBE` reports, the schema of every result. Only the transport differs: Ibis's
ClickHouse backend sends the SQL to a server over HTTP (clickhouse-connect), this one hands it to
a chDB session and reads the answer as Arrow. So a metric that passes here sends a ClickHouse
server the very same SQL. (It subclasses `SQLBackend` rather than Ibis's ClickHouse backend,
whose module imports clickhouse-connect, a client this repository does not need.)

The session applies the settings a userops ClickHouse connection needs (see
docs/deployment.md): `join_use_nulls = 1`, so an outer join gives NULL, not 0 or '', where
nothing matches. The session's own time zone is set on purpose to one that is neither data set's
(Asia/Shanghai, America/Los_Angeles): metrics must name their zone (`toDate(ts, tz)`), never
lean on the server's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis.backends.sql.compilers as sc
import ibis.expr.operations as ops
import ibis.expr.schema as sch
import ibis.expr.types as ir
import pyarrow as pa
import sqlglot.expressions as sge
from ibis.backends.sql import SQLBackend

# What a ClickHouse connection for userops sets (docs/deployment.md, "ClickHouse").
REQUIRED_SETTINGS: Mapping[str, str | int] = {"join_use_nulls": 1}
_CURRENT: dict[int, str] = {}  # the current database of each session (by id)
SERVER_TIMEZONE = "Asia/Kolkata"  # +05:30: neither data set's zone, nor a whole hour from it


class ChdbBackend(SQLBackend):  # type: ignore[misc]
    """An Ibis backend of the ClickHouse dialect bound to one database of a chDB session."""

    name = "clickhouse"
    compiler = sc.clickhouse.compiler
    supports_temporary_tables = False

    def __init__(self, session: Any, database: str):
        super().__init__()
        self._session = session
        self._database = database
        self.last_sql = ""  # the last query of an expression, for tests to read
        for name, value in {**REQUIRED_SETTINGS, "session_timezone": SERVER_TIMEZONE}.items():
            session.query(
                f"SET {name} = {value!r}" if isinstance(value, str) else f"SET {name} = {value}"
            )
        session.query(f"USE {database}")
        _CURRENT[id(session)] = database

    # -- transport ----------------------------------------------------------------------------

    def _use(self) -> None:
        """Make this backend's database the session's current one (a session may hold the
        databases of several backends; queries name tables without their database)."""
        if _CURRENT.get(id(self._session)) != self._database:
            self._session.query(f"USE {self._database}")
            _CURRENT[id(self._session)] = self._database

    def query_arrow(self, sql: str) -> pa.Table:
        self._use()
        result: pa.Table = self._session.query(sql, "ArrowTable")
        return result

    def raw_sql(self, query: str | sge.Expression, **_: Any) -> None:
        if not isinstance(query, str):
            query = query.sql(dialect="clickhouse")
        self._use()
        self._session.query(query)

    @property
    def version(self) -> str:
        return str(self.query_arrow("SELECT version() AS v")["v"][0])

    @property
    def current_database(self) -> str:
        return self._database

    def list_tables(self, *, like: str | None = None, database: str | None = None) -> list[str]:
        db = (database or self._database).replace("'", "\\'")
        names = self.query_arrow(f"SELECT name FROM system.tables WHERE database = '{db}'")
        return self._filter_with_like(names["name"].to_pylist(), like)

    def get_schema(
        self, table_name: str, *, catalog: str | None = None, database: str | None = None
    ) -> sch.Schema:
        """The schema as the real backend reads it: DESCRIBE, through Ibis's type mapper."""
        described = self.query_arrow(f"DESCRIBE TABLE {database or self._database}.{table_name}")
        mapper = self.compiler.type_mapper
        return sch.Schema(
            {
                name: mapper.from_string(kind)
                for name, kind in zip(
                    described["name"].to_pylist(), described["type"].to_pylist(), strict=True
                )
            }
        )

    def to_pyarrow(
        self,
        expr: ir.Expr,
        /,
        *,
        params: Mapping[ir.Scalar, Any] | None = None,
        limit: int | str | None = None,
        **_: Any,
    ) -> Any:
        table = expr.as_table()
        sql = self.last_sql = self.compile(table, limit=limit, params=params)
        schema = table.schema().to_pyarrow()
        result = self.query_arrow(sql).rename_columns(schema.names).cast(schema)
        return expr.__pyarrow_result__(result)

    def execute(
        self,
        expr: ir.Expr,
        /,
        *,
        params: Mapping[ir.Scalar, Any] | None = None,
        limit: int | str | None = "default",
        **_: Any,
    ) -> Any:
        table = expr.as_table()
        frame = self.to_pyarrow(table, params=params, limit=limit).to_pandas()
        return expr.__pandas_result__(frame)

    def disconnect(self) -> None:
        """The session belongs to the test fixture that opened it."""

    def do_connect(self, *_: Any, **__: Any) -> None:
        """Connected at construction."""

    # -- what metrics never do ----------------------------------------------------------------

    def create_table(self, *_: Any, **__: Any) -> Any:
        raise NotImplementedError("metrics only read; the fixture loads the tables with SQL")

    def _get_schema_using_query(self, query: str) -> sch.Schema:
        raise NotImplementedError("not needed by the metrics")

    def _register_in_memory_table(self, op: ops.InMemoryTable) -> None:
        raise NotImplementedError("metrics do not use in-memory tables")
