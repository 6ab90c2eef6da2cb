"""A column's values parsed: times, labels, numbers; a bad one is named by its row and column."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

import numpy as np
import pandas as pd

__all__ = ["BadDataError", "OnError", "Rows", "TimeUnit", "parse_bool", "parse_number", "parse_time"]

TimeUnit = Literal["auto", "iso", "epoch-s", "epoch-ms", "offset-s"]
OnError = Literal["raise", "skip"]

_TRUE: Final = {"1", "true", "t", "yes", "y", "fraud"}
_FALSE: Final = {"0", "false", "f", "no", "n", "legit", "legitimate", ""}


class BadDataError(ValueError):
    """A value in the data that cannot be used, with where it is."""


class Rows:
    """Collects bad rows: raises on the first one, or drops them all when skipping."""

    def __init__(self, n: int, on_error: OnError) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.on_error = on_error
        self.reasons: dict[str, int] = {}

    def reject(self, mask: np.ndarray, column: str, values: pd.Series, problem: str) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self.bad
        if not mask.any():
            return
        if self.on_error == "raise":
            row = int(np.flatnonzero(mask)[0])
            raise BadDataError(
                f"row {row + 1}, column {column!r}: {values.iloc[row]!r} {problem} "
                f"({int(mask.sum())} such row{'s' if mask.sum() != 1 else ''}; --on-error skip drops them)"
            )
        self.bad |= mask
        self.reasons[f"{column}: {problem}"] = self.reasons.get(f"{column}: {problem}", 0) + int(mask.sum())


def parse_time(values: pd.Series, unit: TimeUnit, start: datetime | None, column: str, rows: Rows) -> pd.Series:
    numeric = pd.api.types.is_numeric_dtype(values)
    if unit == "auto":
        if not numeric:
            unit = "iso"
        elif start is not None:
            unit = "offset-s"
        else:
            unit = "epoch-ms" if values.abs().max() > 1e11 else "epoch-s"
    if unit == "iso":
        parsed = pd.to_datetime(values.astype("string"), utc=True, errors="coerce", format="ISO8601")
    else:
        number = pd.to_numeric(values, errors="coerce")
        if unit == "offset-s":
            if start is None:
                raise BadDataError(f"column {column!r} holds seconds from a start: give --start YYYY-MM-DD")
            origin = pd.Timestamp(start if start.tzinfo else start.replace(tzinfo=UTC))
            parsed = origin + pd.to_timedelta(number, unit="s")
        else:
            parsed = pd.to_datetime(number, unit="ms" if unit == "epoch-ms" else "s", utc=True, errors="coerce")
    described = {"iso": "an ISO 8601 time", "epoch-s": "epoch seconds", "epoch-ms": "epoch milliseconds"}
    rows.reject(parsed.isna().to_numpy(), column, values, f"is not {described.get(unit, 'a number of seconds')}")
    return parsed


def parse_bool(values: pd.Series, column: str, rows: Rows) -> pd.Series:
    text = values.astype("string").str.strip().str.lower().fillna("")
    text = text.str.replace(r"\.0$", "", regex=True)
    known = text.isin(_TRUE | _FALSE)
    rows.reject(~known.to_numpy(), column, values, "is not a label (use 1/0, true/false)")
    return text.isin(_TRUE)


def parse_number(values: pd.Series, column: str, rows: Rows, low: float, high: float) -> pd.Series:
    number = pd.to_numeric(values, errors="coerce").astype("float64")
    present = values.notna().to_numpy()
    rows.reject(present & number.isna().to_numpy(), column, values, "is not a number")
    finite = np.isfinite(number.to_numpy(na_value=np.nan))
    rows.reject(present & ~finite & number.notna().to_numpy(), column, values, "is not finite")
    rows.reject(
        (number < low).to_numpy() | (number > high).to_numpy(),
        column,
        values,
        f"is outside [{low:g}, {high:g}]",
    )
    return number
