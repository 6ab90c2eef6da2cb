"""Train/test splits the way fraud teams do them: by time, with a gap for late labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["SplitConfig", "split_masks"]

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SplitConfig:
    """Time split by default: the latest `test_fraction` is the test, `gap_days` before it unused.

    Explicit windows (`train_start`, `train_days`, `test_days`) override the fraction.
    `method="random"` shuffles rows (optimistic: it leaks the future; for comparison only).
    """

    method: Literal["time", "random"] = "time"
    test_fraction: float = 0.2
    gap_days: float = 7.0
    train_start: datetime | None = None
    train_days: float | None = None
    test_days: float | None = None
    seed: int = 0


def split_masks(timestamps: pd.Series, config: SplitConfig) -> tuple[BoolArray, BoolArray, dict[str, Any]]:
    """(train mask, test mask, description of the windows)."""
    ts = pd.to_datetime(timestamps, utc=True)
    if config.method == "random":
        rng = np.random.default_rng(config.seed)
        test = rng.random(len(ts)) < config.test_fraction
        return ~test, test, {"method": "random", "test_fraction": config.test_fraction}
    gap = pd.Timedelta(days=config.gap_days)
    if config.train_days is not None or config.test_days is not None:
        if config.train_days is None or config.test_days is None:
            raise ValueError("explicit windows need both --train-days and --test-days")
        start = pd.Timestamp(config.train_start or ts.min().floor("D"))
        if start.tzinfo is None:
            start = start.tz_localize(UTC)
        train_end = start + pd.Timedelta(days=config.train_days)
        test_start = train_end + gap
        test_end = test_start + pd.Timedelta(days=config.test_days)
    else:
        if not 0 < config.test_fraction < 1:
            raise ValueError("--test-fraction must be between 0 and 1")
        start = ts.min()
        test_start = ts.sort_values().iloc[int(len(ts) * (1 - config.test_fraction))]
        test_end = ts.max() + timedelta(microseconds=1)
        train_end = test_start - gap
    train = ((ts >= start) & (ts < train_end)).to_numpy()
    test = ((ts >= test_start) & (ts < test_end)).to_numpy()
    if not train.any() or not test.any():
        raise ValueError(
            f"empty {'training' if not train.any() else 'test'} window: the data spans "
            f"{ts.min():%Y-%m-%d} to {ts.max():%Y-%m-%d}; adjust --gap-days / windows"
        )
    return (
        train,
        test,
        {
            "method": "time",
            "train_start": start.isoformat(),
            "train_end": train_end.isoformat(),
            "gap_days": config.gap_days,
            "test_start": test_start.isoformat(),
            "test_end": min(test_end, ts.max()).isoformat(),
        },
    )
