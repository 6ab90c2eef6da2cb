"""Train/test splits the way fraud teams do them: by time, with a gap for late labels."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["SplitConfig", "split_masks"]

log = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]

#: Chargebacks take days: the usual gap, unless the history is too short for it.
DEFAULT_GAP_DAYS = 7.0


@dataclass(frozen=True)
class SplitConfig:
    """Time split by default: the latest `test_fraction` is the test, `gap_days` before it unused.

    `gap_days=None` means 7 days, or a quarter of the history's span where that is shorter
    (a two-day data set such as ULB's cannot leave a week unused).

    Explicit windows (`train_start`, `train_days`, `test_days`) override the fraction.
    `method="random"` shuffles rows (optimistic: it leaks the future; for comparison only).
    """

    method: Literal["time", "random"] = "time"
    test_fraction: float = 0.2
    gap_days: float | None = None
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
    gap_days = config.gap_days
    if gap_days is None:
        span_days = (ts.max() - ts.min()) / pd.Timedelta(days=1)
        gap_days = min(DEFAULT_GAP_DAYS, round(span_days / 4, 3))
        if gap_days < DEFAULT_GAP_DAYS:
            log.info(
                "history spans %.1f days: a %g-day gap instead of %g (set --gap-days)",
                span_days,
                gap_days,
                DEFAULT_GAP_DAYS,
            )
    gap = pd.Timedelta(days=gap_days)
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
            "gap_days": gap_days,
            "test_start": test_start.isoformat(),
            "test_end": min(test_end, ts.max()).isoformat(),
        },
    )
