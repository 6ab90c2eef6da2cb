"""Rule conditions: what compiles, what is refused and where the error points."""

from __future__ import annotations

import polars as pl
import pytest

from fraudstream.rules.expressions import ExpressionError, compile_condition

SCHEMA = {
    "amount": pl.Float64(),
    "channel": pl.String(),
    "device_id": pl.String(),
    "customer_new_device": pl.Boolean(),
    "customer_distance_usual_km": pl.Float64(),
    "score": pl.Float64(),
}
ROWS = pl.DataFrame(
    {
        "amount": [1500.0, 20.0, None],
        "channel": ["online", "card_present", "online"],
        "device_id": ["d1", None, "d3"],
        "customer_new_device": [True, False, None],
        "customer_distance_usual_km": [800.0, 1.0, None],
        "score": [0.4, 0.9, 0.5],
    },
    schema=SCHEMA,
)


def fired(text: str) -> list[bool]:
    condition = compile_condition(text, SCHEMA)
    return ROWS.select(condition.expr.fill_null(False).alias("r"))["r"].to_list()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount > 1000 and customer_distance_usual_km > 500", [True, False, False]),
        ("channel = 'online' and customer_new_device and score > 0.3", [True, False, False]),
        ("not customer_new_device", [False, True, False]),  # unknown stays unknown: not fired
        ("amount between 10 and 30 or score >= 0.5", [False, True, True]),
        ("lower(channel) like 'on%' and device_id is not null", [True, False, True]),
        ("channel in ('online', 'moto')", [True, False, True]),
        ("coalesce(amount, 0) < 100", [False, True, True]),
        ("abs(amount - 1500) < 1e-9", [True, False, False]),
    ],
)
def test_conditions_hold_row_by_row_with_nulls_never_firing(text: str, expected: list[bool]) -> None:
    assert fired(text) == expected


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("amount >", 1, 8, "syntax error"),
        ("amount > 1 and\n  velocity > 2", 2, 3, "unknown field 'velocity'"),
        ("channel > 1 or amount < 3", 1, 1, "type error: cannot compare string"),
        ("amount > 1 and amount", 1, 16, "expected a condition"),
        ("amount + 1", 1, 1, "must be true or false"),
        ("amount > 5 and sum(amount) > 1", 1, 16, "function sum() is not allowed"),
        ("cast(amount as int) > 1", 1, 1, "function cast() is not allowed"),
        ("amount > (select max(amount) from t)", 1, 18, "not allowed"),
        ("t.amount > 1", 1, 1, "qualified names are not allowed"),
        ("amount > 1; drop table decisions", 1, 1, "no ';'"),
        ("amount in list(1)", 1, 1, "field in list('name')"),
    ],
)
def test_errors_say_what_and_where(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_condition(text, SCHEMA)
    assert message in caught.value.message
    assert (caught.value.line, caught.value.column) == (line, column)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "amount.__class__.__bases__ > 1",
        "read_csv('/etc/passwd') is not null",
        "exec('x') = 1",
        "amount > 1 union select * from decisions",
        "x = 'unterminated",
    ],
)
def test_code_execution_and_data_access_are_refused(text: str) -> None:
    with pytest.raises(ExpressionError):
        compile_condition(text, SCHEMA)


def test_a_list_test_becomes_a_column_the_policy_fills() -> None:
    condition = compile_condition("device_id not in list('blocked') and amount > 10", SCHEMA, list_prefix="__l")
    (test,) = condition.lists
    assert (test.field, test.list_name, test.column) == ("device_id", "blocked", "__l_0")
    frame = ROWS.with_columns(pl.Series("__l_0", [True, False, False]))
    assert frame.select(condition.expr.fill_null(False))[:, 0].to_list() == [False, True, False]
    alone = compile_condition("device_id in list('blocked')", SCHEMA)
    assert alone.lists[0].list_name == "blocked" and alone.fields == frozenset()
