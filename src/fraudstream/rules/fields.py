"""What a rule can read: the transaction's fields, the model's features and `score`, as
Polars columns of a batch (live) or of a history's chunk (backtest).

Missing values are nulls, never NaN: in Polars NaN compares greater than every number,
so `x > 5` would hold for a feature that is not known. Yes/no features are booleans, so
`customer_new_device` reads as a condition on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from fraudstream.features import FEATURES
from fraudstream.schema import Transaction

__all__ = ["SCORE", "TRANSACTION_FIELDS", "batch_columns", "rule_schema", "table_columns"]

SCORE = "score"

TRANSACTION_FIELDS: Mapping[str, pl.DataType] = {
    "transaction_id": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "customer_id": pl.String(),
    "amount": pl.Float64(),
    "currency": pl.String(),
    "merchant_id": pl.String(),
    "merchant_category": pl.String(),
    "channel": pl.String(),
    "terminal_id": pl.String(),
    "device_id": pl.String(),
    "ip": pl.String(),
    "latitude": pl.Float64(),
    "longitude": pl.Float64(),
    "country": pl.String(),
}


def _is_flag(name: str) -> bool:
    feature = FEATURES.get(name)
    return feature is not None and feature.is_flag


def rule_schema(feature_names: Iterable[str]) -> dict[str, pl.DataType]:
    """Every column a rule may name, with its type: transaction fields win over a feature of the same name."""
    schema: dict[str, pl.DataType] = {name: pl.Boolean() if _is_flag(name) else pl.Float64() for name in feature_names}
    schema.update(TRANSACTION_FIELDS)
    schema[SCORE] = pl.Float64()
    return schema


def _feature_column(name: str, values: npt.NDArray[np.float64]) -> pl.Series:
    series = pl.Series(name, values, dtype=pl.Float64, nan_to_null=True)
    return series.cast(pl.Boolean) if _is_flag(name) else series


def batch_columns(
    transactions: Sequence[Transaction],
    X: npt.NDArray[np.float64],
    feature_names: Sequence[str],
    scores: npt.NDArray[np.float64],
    columns: Iterable[str],
) -> dict[str, pl.Series]:
    """The named columns of a scored batch, and `score` (features are X's columns, in `feature_names` order)."""
    index = {name: i for i, name in enumerate(feature_names)}
    series = [pl.Series(SCORE, scores, dtype=pl.Float64)]  # always one column: a frame's height is its columns'
    wanted = [name for name in columns if name in TRANSACTION_FIELDS]
    if wanted:
        # Every field of every transaction at once, transposed in C (a channel is a StrEnum: a str too).
        rows = map(itemgetter(*wanted), map(vars, transactions))
        values = zip(*rows, strict=True) if len(wanted) > 1 else [list(rows)]  # one name: values, not tuples
        for name, column in zip(wanted, values, strict=True):
            series.append(pl.Series(name, list(column), dtype=TRANSACTION_FIELDS[name]))
    series += [_feature_column(name, X[:, index[name]]) for name in columns if name in index and name not in wanted]
    return {column.name: column for column in series}


def table_columns(
    table: Mapping[str, Any],
    X: npt.NDArray[np.float64],
    feature_names: Sequence[str],
    scores: npt.NDArray[np.float64],
    columns: Iterable[str],
) -> dict[str, pl.Series]:
    """The named columns of a scored history, and `score`: transaction fields from `table`'s
    columns (a pandas frame or a mapping of arrays; absent ones are null)."""
    index = {name: i for i, name in enumerate(feature_names)}
    n = len(scores)
    series = [pl.Series(SCORE, scores, dtype=pl.Float64)]
    for name in columns:
        if name == SCORE:
            continue
        if name in TRANSACTION_FIELDS:
            dtype = TRANSACTION_FIELDS[name]
            if name in table:
                column = pl.Series(name, table[name])
                series.append(column.cast(dtype) if column.dtype != dtype else column)
            else:
                series.append(pl.Series(name, [None] * n, dtype=dtype))
        else:
            series.append(_feature_column(name, X[:, index[name]]))
    return {column.name: column for column in series}
