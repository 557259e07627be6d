"""Model instances from hand-written SQL, for the few paths where compiling an ORM query costs more
than running it (serving battles and casting votes: see BENCHMARKS.md, "HTTP votes").

    battle = Columns(Battle, "b")
    question = Columns(Question, "q", ["id", "text", "category_id", "language"])
    cursor.execute(f"SELECT {battle.sql}, {question.sql} FROM ... b JOIN ... q ON ...")
    for row in cursor.fetchall():
        b, offset = battle.build(row, 0)
        q, offset = question.build(row, offset)

Values go through the database backend's and the fields' own converters, exactly as the ORM's
(SQLite's datetimes and UUIDs, JSON): the instances are the ones a queryset would give, with the
fields not selected deferred (read on first access, as with .only()).

`execute(cursor, sql, parameters)` runs such a statement prepared: on PostgreSQL each session plans
it once (PREPARE) and then only runs it (EXECUTE), which halves the cost of a short query whose
planning takes longer than its execution. ARENA_DB_PREPARED_STATEMENTS=false turns this off, for a
connection pooler in transaction mode (PgBouncer's default), where the next transaction may run on
another session.
"""

import hashlib
import uuid
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import connection
from django.db.models import Model

_M = TypeVar("_M", bound=Model)
_Converter = Callable[[Any, Any, Any], Any]


def parameter(value: Any) -> Any:
    """A value for hand-written SQL, as the ORM would send it (SQLite keeps UUIDs as text and
    datetimes as naive UTC text)."""
    if isinstance(value, uuid.UUID):
        return value if connection.vendor == "postgresql" else value.hex
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


class Columns(Generic[_M]):
    """Some (by default all) concrete columns of a model under a table alias, in the model's order."""

    def __init__(self, model: type[_M], alias: str, fields: Sequence[str] | None = None) -> None:
        wanted = None if fields is None else set(fields)
        self.model = model
        self.fields = [
            field
            for field in model._meta.concrete_fields
            if wanted is None or field.name in wanted or field.attname in wanted
        ]
        if wanted is not None:
            unknown = wanted - {name for f in self.fields for name in (f.name, f.attname)}
            if unknown:
                raise ValueError(f"{model.__name__} has no columns {sorted(unknown)}")
        self.attnames = [field.attname for field in self.fields]
        self.sql = ", ".join(f'{alias}."{field.column}"' for field in self.fields)
        self._converters: dict[str, list[tuple[int, list[_Converter], Any]]] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def build(self, row: Sequence[Any], offset: int = 0) -> tuple[_M, int]:
        """The instance from row[offset:offset + len(self)], and the offset after it."""
        values = list(row[offset : offset + len(self.fields)])
        for index, converters, expression in self._converters_now():
            value = values[index]
            for converter in converters:
                value = converter(value, expression, connection)
            values[index] = value
        instance = self.model.from_db(connection.alias, self.attnames, values)
        return instance, offset + len(self.fields)

    def value(self, attname: str, value: Any) -> Any:
        """One column's value as the instance would hold it."""
        index = self.attnames.index(attname)
        for found, converters, expression in self._converters_now():
            if found == index:
                for converter in converters:
                    value = converter(value, expression, connection)
        return value

    def _converters_now(self) -> list[tuple[int, list[_Converter], Any]]:
        vendor = connection.vendor
        found = self._converters.get(vendor)
        if found is None:
            found = []
            for index, field in enumerate(self.fields):
                expression = field.get_col(self.model._meta.db_table)
                model_field: Any = field  # Field.get_db_converters is not in the type stubs
                converters = connection.ops.get_db_converters(expression) + model_field.get_db_converters(
                    connection
                )
                if converters:
                    found.append((index, converters, expression))
            self._converters[vendor] = found
        return found


# The statements prepared in each database session (by its driver connection: a new session after
# a reconnection starts with none).
_prepared: "weakref.WeakKeyDictionary[Any, set[str]]" = weakref.WeakKeyDictionary()
_statements: dict[str, tuple[str, str, str]] = {}


def execute(
    cursor: Any,
    sql: str,
    parameters: Sequence[Any] = (),
    *,
    first: tuple[str, Sequence[Any]] | None = None,
) -> None:
    """cursor.execute(sql, parameters), the statement prepared once per session on PostgreSQL.
    `sql` takes its values as %s placeholders only (no other % in it). `first`, a statement and its
    parameters, runs just before it (its rows are not read), on PostgreSQL in the same round trip:
    each statement still sees what committed before it started (taking a lock, then reading)."""
    if connection.vendor != "postgresql":
        if first is not None:
            cursor.execute(*first)
        cursor.execute(sql, parameters)
        return
    run = prepared(cursor, sql)
    if first is None:
        cursor.execute(run, parameters)
    else:
        cursor.execute(f"{first[0]}; {run}", [*first[1], *parameters])


def prepared(cursor: Any, sql: str) -> str:
    """The statement to send for `sql` (PostgreSQL): EXECUTE of it prepared in this session (prepared
    now if it was not yet), or `sql` itself with ARENA_DB_PREPARED_STATEMENTS off. For several
    statements sent in one round trip (joined with "; "), each with its %s values."""
    if not settings.ARENA_DB_PREPARED_STATEMENTS:
        return sql
    found = _statements.get(sql)
    if found is None:
        name = "arena_" + hashlib.sha256(sql.encode()).hexdigest()[:16]
        pieces = sql.split("%s")
        numbered = "".join(
            piece + (f"${index + 1}" if index < len(pieces) - 1 else "") for index, piece in enumerate(pieces)
        )
        placeholders = ", ".join(["%s"] * (len(pieces) - 1))
        found = _statements[sql] = (
            name,
            f"PREPARE {name} AS {numbered}",
            f"EXECUTE {name}" + (f" ({placeholders})" if placeholders else ""),
        )
    name, prepare, run = found
    session = connection.connection
    names = _prepared.get(session)
    if names is None:
        names = _prepared[session] = set()
    if name not in names:
        cursor.execute(prepare)
        names.add(name)
    return run
