"""Columns as PostgreSQL binary arrays, encoded here rather than by psycopg's list dumper.

A batch goes to PostgreSQL as one array per column (`INSERT ... SELECT FROM unnest`).
psycopg dumps a Python list element by element through its adapter machinery, which was
much of the store's client time for a large batch. Here a float or
timestamp column without NULLs is one numpy record array, and any other column one
join, in PostgreSQL's own binary array format (`array_send`):

    int32 dimensions (1), int32 has-NULLs flag, uint32 element type oid,
    int32 length, int32 lower bound (1), then per element an int32 byte length
    (-1 for NULL) followed by the element's binary form.

The server receives exactly what psycopg would have sent: the same types, the same
values, so the statement and its casts do not change.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import numpy as np

__all__ = ["Encoder", "encoder_for", "register", "repeated"]

_HEADER = struct.Struct(">iiIii")
_LENGTH = struct.Struct(">i")
_NULL = _LENGTH.pack(-1)
_DOUBLE = struct.Struct(">d")
_INT64 = struct.Struct(">q")
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FIXED8 = np.dtype([("length", ">i4"), ("value", ">f8")])
_FIXED8_INT = np.dtype([("length", ">i4"), ("value", ">i8")])

# Element and array type oids (pg_type): the array is sent as what psycopg would send.
TEXT, TEXT_ARRAY = 25, 1009
FLOAT8, FLOAT8_ARRAY = 701, 1022
TIMESTAMPTZ, TIMESTAMPTZ_ARRAY = 1184, 1185
JSON, JSON_ARRAY = 114, 199
INT8, INT8_ARRAY = 20, 1016


class _Array(bytes):
    """An array already in PostgreSQL's binary format; the subclass says its type."""

    oid: ClassVar[int]


class _TextArray(_Array):
    oid = TEXT_ARRAY


class _Float8Array(_Array):
    oid = FLOAT8_ARRAY


class _TimestamptzArray(_Array):
    oid = TIMESTAMPTZ_ARRAY


class _JsonArray(_Array):
    oid = JSON_ARRAY


class _Int8Array(_Array):
    oid = INT8_ARRAY


def register(adapters: Any) -> None:
    """Teach a psycopg connection (its `adapters` map) to send these arrays as they are.

    psycopg is imported here: it is an optional extra, needed only with PostgreSQL.
    """
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    for array in (_TextArray, _Float8Array, _TimestamptzArray, _JsonArray, _Int8Array):

        class ArrayDumper(Dumper):
            format = Format.BINARY
            oid = array.oid

            def dump(self, obj: Any) -> bytes:
                return bytes(obj)

        adapters.register_dumper(array, ArrayDumper)


def _header(element: int, n: int, nulls: bool) -> bytes:
    return _HEADER.pack(1, int(nulls), element, n, 1)


def _fixed8(element: int, values: Sequence[Any], dtype: np.dtype[Any]) -> bytes:
    records = np.empty(len(values), dtype=dtype)
    records["length"] = 8
    records["value"] = values
    return _header(element, len(values), False) + records.tobytes()


def _elements(values: Sequence[Any], to_bytes: Callable[[Any], bytes]) -> bytes:
    """Each element as its byte length and its binary form; -1 and nothing for a NULL."""
    parts: list[bytes] = []
    for value in values:
        if value is None:
            parts.append(_NULL)
        else:
            data = to_bytes(value)
            parts += (_LENGTH.pack(len(data)), data)
    return b"".join(parts)


def text_array(values: Sequence[str | None]) -> bytes:
    """A text[] (also right for varchar columns: the statement casts)."""
    return _TextArray(_header(TEXT, len(values), None in values) + _elements(values, str.encode))


def json_array(values: Sequence[bytes | None]) -> bytes:
    """A json[] from JSON texts already encoded (json's binary form is its text)."""
    return _JsonArray(_header(JSON, len(values), None in values) + _elements(values, bytes))


def float8_array(values: Sequence[float | None]) -> bytes:
    if None in values:
        return _Float8Array(_header(FLOAT8, len(values), True) + _elements(values, _DOUBLE.pack))
    return _Float8Array(_fixed8(FLOAT8, values, _FIXED8))


def int8_array(values: Sequence[int | None]) -> bytes:
    return _Int8Array(_header(INT8, len(values), None in values) + _elements(values, _INT64.pack))


def _micros(value: datetime) -> int:
    return (value - _PG_EPOCH) // _MICROSECOND


def timestamptz_array(values: Sequence[datetime | None]) -> bytes:
    """Microseconds since 2000-01-01 UTC; every value must carry its timezone."""
    if None in values:
        body = _elements(values, lambda value: _INT64.pack(_micros(value)))
        return _TimestamptzArray(_header(TIMESTAMPTZ, len(values), True) + body)
    micros = [_micros(value) for value in values]  # type: ignore[arg-type]
    return _TimestamptzArray(_fixed8(TIMESTAMPTZ, micros, _FIXED8_INT))


Encoder = Callable[[Sequence[Any]], bytes]

_BY_TYPE: dict[str, Encoder] = {
    "VARCHAR": text_array,
    "TEXT": text_array,
    "FLOAT": float8_array,
    "DOUBLE PRECISION": float8_array,
    "TIMESTAMP WITH TIME ZONE": timestamptz_array,
    "JSON": json_array,
    "BIGINT": int8_array,
}


def repeated(encode: Encoder, value: Any, n: int) -> bytes:
    """An array of `n` times `value`, the element encoded once (a batch's shared time,
    model version, ...): encoding it per row cost as much as a column of distinct values."""
    one = encode([value])
    dimensions, nulls, element, _, lower = _HEADER.unpack_from(one)
    return type(one)(_HEADER.pack(dimensions, nulls, element, n, lower) + one[_HEADER.size :] * n)


def encoder_for(sql_type: str) -> Encoder:
    """The encoder for a column of this SQL type (as SQLAlchemy compiles it for PostgreSQL)."""
    base = sql_type.split("(")[0].strip().upper()
    try:
        return _BY_TYPE[base]
    except KeyError:
        raise TypeError(f"no binary array encoder for column type {sql_type}") from None
