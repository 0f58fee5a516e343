"""Hot write statements, compiled once per dialect and handed to the driver.

SQLAlchemy's ``Connection.execute`` looks the statement up in its compiled cache, builds an
execution context and processes every parameter by name on each call: on SQLite that costs
more than SQLite takes to run a small INSERT. A write that every request makes (a payment,
its idempotency key, a ledger row) is compiled here once per dialect instead; each call
turns its values into the driver's tuple with the type processors SQLAlchemy would apply,
and gives it to ``exec_driver_sql``, or, on the SQLite connection that runs writes on the
loop (``servicekit.db``), straight to sqlite3. Transactions and the exceptions raised
(``IntegrityError``, ...) stay SQLAlchemy's.

Only for writes that return no rows: rows read past SQLAlchemy would skip its result
processing (SQLite hands back datetimes as text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from servicekit.db import _InlineConnection


@dataclass(frozen=True, slots=True)
class _Parameter:
    """One positional parameter: the caller's value ``name``, or a value fixed in the
    statement (``name`` None), already processed."""

    name: str | None
    process: Callable[[Any], Any] | None
    fixed: Any = None


@dataclass(frozen=True, slots=True)
class _CompiledForm:
    sql: str
    parameters: tuple[_Parameter, ...]

    def row(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            parameter.fixed
            if parameter.name is None
            else values[parameter.name]
            if parameter.process is None
            else parameter.process(values[parameter.name])
            for parameter in self.parameters
        )


class PreparedWrite:
    """An INSERT, UPDATE or DELETE without RETURNING, with values given by bind name.

    ``columns`` names the columns an INSERT gives values for (every other column takes its
    default); an UPDATE or DELETE names the values of each call with ``sa.bindparam``, and
    values written in the statement itself are sent as they are.
    """

    def __init__(
        self, statement: sa.Insert | sa.Update | sa.Delete, columns: Sequence[str] = ()
    ) -> None:
        self._statement = statement
        self._columns = list(columns)
        self._forms: dict[tuple[str, str], _CompiledForm] = {}

    def compiled_for(self, dialect: Dialect) -> _CompiledForm:
        """The statement's SQL and parameter order on ``dialect`` (compiled on first use)."""
        key = (dialect.name, dialect.driver)
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = self._compile(dialect)
        return form

    def _compile(self, dialect: Dialect) -> _CompiledForm:
        compiled = self._statement.compile(dialect=dialect, column_keys=self._columns or None)
        if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
            raise TypeError(f"{dialect.name}+{dialect.driver}: a positional paramstyle is needed")
        if compiled.effective_returning:
            raise TypeError("PreparedWrite takes no RETURNING: its rows would be unprocessed")
        parameters = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            if bind.expanding or bind.callable is not None:
                raise TypeError(f"PreparedWrite takes no expanding IN or callable value ({name})")
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                parameters.append(_Parameter(name, process))
            else:  # a value written in the statement, such as .values(status="delivered")
                value = bind.value if process is None else process(bind.value)
                parameters.append(_Parameter(None, None, value))
        return _CompiledForm(sql=compiled.string, parameters=tuple(parameters))

    async def execute(self, conn: AsyncConnection, values: Mapping[str, Any]) -> int:
        """Run the statement once in ``conn``'s transaction; how many rows it changed."""
        form = self.compiled_for(conn.dialect)
        if isinstance(conn, _InlineConnection):
            return conn.write_through_driver(form.sql, form.row(values))
        result = await conn.exec_driver_sql(form.sql, form.row(values))
        return int(result.rowcount)

    async def execute_many(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row, in one driver call."""
        form = self.compiled_for(conn.dialect)
        parameters = [form.row(values) for values in rows]
        if isinstance(conn, _InlineConnection):
            conn.write_through_driver(form.sql, parameters, many=True)
        else:
            await conn.exec_driver_sql(form.sql, parameters)
