"""Binary arrays encoded by hand read back in PostgreSQL as the values they came from."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from fraudstream.store import pgarrays
from tests.services import POSTGRES_URL, unavailable

T0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(scope="module")
def connection() -> Iterator[Any]:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True)
    except Exception as exc:
        unavailable("PostgreSQL", exc)
    pgarrays.register(conn.adapters)
    yield conn
    conn.close()


def read_back(connection: Any, sql_type: str, values: list[Any]) -> list[Any]:
    encoded = pgarrays.encoder_for(sql_type)(values)
    rows = connection.execute(f"SELECT unnest(%b::{sql_type}[])", (encoded,)).fetchall()
    return [row[0] for row in rows]


@pytest.mark.parametrize(
    "values",
    [
        ["a", "ünïcödé €", "", "x" * 128],
        ["a", None, "b", None],
        [None],
        ["only"],
    ],
)
def test_text(connection: Any, values: list[str | None]) -> None:
    assert read_back(connection, "VARCHAR(128)", values) == values


@pytest.mark.parametrize(
    "values",
    [
        [0.0, -0.0, 1.5, -2.25e300, 5e-324, 123456.789],
        [1.0, None, 2.0],
        [math.inf, -math.inf],
    ],
)
def test_float(connection: Any, values: list[float | None]) -> None:
    back = read_back(connection, "FLOAT", values)
    assert back == values
    assert [math.copysign(1, v) for v in back if v is not None] == [
        math.copysign(1, v) for v in values if v is not None
    ]


def test_nan(connection: Any) -> None:
    (back,) = read_back(connection, "FLOAT", [math.nan])
    assert math.isnan(back)


@pytest.mark.parametrize(
    "values",
    [
        [T0, T0 + timedelta(microseconds=1), datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)],
        [T0, None],
        # Another offset is the same instant: PostgreSQL stores instants.
        [datetime(2026, 3, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))],
    ],
)
def test_timestamptz(connection: Any, values: list[datetime | None]) -> None:
    back = read_back(connection, "TIMESTAMP WITH TIME ZONE", values)
    assert back == values  # aware datetimes compare as instants


def test_json(connection: Any) -> None:
    values = [b'{"a": 1, "b": [true, null]}', None, b"[]", '{"t": "ünï"}'.encode()]
    back = read_back(connection, "JSON", values)
    assert back == [None if v is None else json.loads(v) for v in values]


def test_an_unknown_column_type_says_so() -> None:
    with pytest.raises(TypeError, match="BYTEA"):
        pgarrays.encoder_for("BYTEA")


@pytest.mark.parametrize(
    ("sql_type", "value"),
    [("VARCHAR(80)", "model-1"), ("FLOAT", -0.0), ("TIMESTAMP WITH TIME ZONE", T0), ("JSON", b"[]"), ("TEXT", None)],
)
def test_one_value_repeated(connection: Any, sql_type: str, value: Any) -> None:
    encode = pgarrays.encoder_for(sql_type)
    repeated = pgarrays.repeated(encode, value, 3)
    assert repeated == encode([value] * 3)
    back = [row[0] for row in connection.execute(f"SELECT unnest(%b::{sql_type}[])", (repeated,)).fetchall()]
    assert back == read_back(connection, sql_type, [value]) * 3
