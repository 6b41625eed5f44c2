"""Hot reads run on the DB-API cursor, compiled once per dialect.

The REST API's one-asset reads are a handful of indexed statements that each
take tens of microseconds in the database; through SQLAlchemy's execution
layer (parameter processing, events, result objects) each cost about ten
times that. A :class:`Prepared` statement is written with SQLAlchemy Core
like every other statement, compiled once per dialect, and executed on the
connection's own DB-API cursor, inside the transaction SQLAlchemy began; result
values go through the columns' own result processors (UTC datetimes included),
so rows come out as they would through :meth:`Connection.execute`.

Only statements with scalar bound parameters qualify (no expanding ``IN``
lists); PostgreSQL's driver prepares them server-side once they repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect

__all__ = ["Prepared"]

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # parameter order for positional paramstyles
    processors: tuple[_Processor, ...]


class Prepared:
    """A Core ``SELECT`` with scalar parameters, run on the DB-API cursor.

    Args:
        statement: The statement; its bound parameters must be scalar.
    """

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement in ``connection``'s transaction; every row, processed."""
        compiled = self._compiled.get(connection.dialect.name) or self._compile(connection.dialect)
        cursor = connection.connection.cursor()
        try:
            if compiled.names is None:
                cursor.execute(compiled.sql, dict(params))
            else:
                cursor.execute(compiled.sql, tuple(params[name] for name in compiled.names))
            fetched: Sequence[Sequence[Any]] = cursor.fetchall()
        finally:
            cursor.close()
        processors = compiled.processors
        if not any(processors):
            return [tuple(row) for row in fetched]
        return [
            tuple(
                value if p is None else p(value) for p, value in zip(processors, row, strict=True)
            )
            for row in fetched
        ]

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("a prepared statement takes scalar parameters only")
        names = tuple(compiled.positiontup or ()) if compiled.positional else None
        processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self._statement.selected_columns
        )
        built = _Compiled(sql=compiled.string, names=names, processors=processors)
        self._compiled[dialect.name] = built
        return built
