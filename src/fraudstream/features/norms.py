"""What a payment's reasons compare it with: the training population of each feature.

A reason never states a bare value: "amount 590.33" says nothing to an analyst,
"amount 590.33, more than for 99% of payments" does. `Norms` keeps, per feature, its
quantiles over the training payments (at fixed probabilities, so a statement made from
them is a lower bound, never an exaggeration), the share of payments without a value,
the overall fraud rate and each merchant category's. `Row` is one payment's features
by name, with those norms, as a reason's wording reads them.

>>> import numpy as np
>>> amounts = np.arange(1.0, 101.0)[:, None]  # one payment of each amount from 1 to 100
>>> norms = Norms.of(("amount",), amounts, np.zeros(100, bool), ())
>>> norms.compare("amount", 500.0)
'more than for any payment in training'
>>> norms.compare("amount", 95.0)
'more than for 90% of payments'
>>> norms.compare("amount", 0.5)
'less than for any payment in training'
>>> norms.compare("amount", 50.0)
'within the usual range of payments'
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = ["PROBABILITIES", "Norms", "Row", "percent"]

FloatArray = npt.NDArray[np.float64]

#: Where each feature's quantiles are kept: dense in the tails, where reasons point.
PROBABILITIES: Final = (
    0.0, 0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 1.0,
)  # fmt: skip
_P: Final = np.array(PROBABILITIES)
#: A share of payments below (or above) a value worth saying.
REMARKABLE: Final = 0.75


def percent(share: float) -> str:
    """A share as people read it: one decimal where the whole number would round to 0 or 100."""
    if 0 < share < 0.01 or 0.99 < share < 1:
        return f"{share:.1%}"
    return f"{share:.0%}"


@dataclass(frozen=True)
class Norms:
    """Each feature's training population, and the fraud rates a reason compares with."""

    quantiles: Mapping[str, tuple[float, ...]]  # at PROBABILITIES, over the payments with a value
    means: Mapping[str, float]  # over the payments with a value (a flag's: the share where it is 1)
    missing: Mapping[str, float]  # share of payments without a value
    fraud_rate: float
    category_frauds: Mapping[str, tuple[int, int]]  # merchant category -> (payments, frauds)

    @classmethod
    def of(
        cls,
        names: Sequence[str],
        X: FloatArray,
        y: npt.NDArray[np.bool_],
        categories: Sequence[str],
    ) -> Norms:
        """The norms of training rows `X` (columns `names`) with labels `y`; `categories`
        is the vocabulary `merchant_category_code` indexes."""
        quantiles: dict[str, tuple[float, ...]] = {}
        means: dict[str, float] = {}
        missing: dict[str, float] = {}
        for j, name in enumerate(names):
            column = X[:, j]
            known = column[~np.isnan(column)]
            missing[name] = float(1.0 - len(known) / len(column)) if len(column) else 1.0
            if len(known):
                quantiles[name] = tuple(float(v) for v in np.quantile(known, _P))
                means[name] = float(known.mean())
        category_frauds: dict[str, tuple[int, int]] = {}
        if "merchant_category_code" in names:
            codes = X[:, list(names).index("merchant_category_code")]
            for code, category in enumerate(categories):
                mine = codes == code
                category_frauds[category] = (int(mine.sum()), int((mine & y).sum()))
        return cls(quantiles, means, missing, float(np.mean(y)) if len(y) else math.nan, category_frauds)

    def share_below(self, name: str, value: float) -> float:
        """A lower bound of the share of payments (with a value) strictly below `value`."""
        q = self.quantiles.get(name)
        if q is None or math.isnan(value):
            return 0.0
        i = bisect_left(q, value)  # a reason's few lookups: bisect costs less than numpy's call
        return PROBABILITIES[i - 1] if i > 0 else 0.0

    def share_above(self, name: str, value: float) -> float:
        """A lower bound of the share of payments (with a value) strictly above `value`."""
        q = self.quantiles.get(name)
        if q is None or math.isnan(value):
            return 0.0
        i = bisect_right(q, value)
        return 1.0 - PROBABILITIES[i] if i < len(PROBABILITIES) else 0.0

    def share_between(self, name: str, low: float, high: float) -> float:
        """About the share of payments (with a value) in [low, high), interpolated between quantiles."""
        q = self.quantiles.get(name)
        return math.nan if q is None else _share_between(q, low, high)

    def typical(self, name: str, value: float) -> bool:
        """Within the usual range of payments: neither more nor less than for most of them."""
        if name not in self.quantiles or math.isnan(value):
            return False
        return self.share_below(name, value) < REMARKABLE and self.share_above(name, value) < REMARKABLE

    def compare(self, name: str, value: float, more: str = "more", less: str = "less") -> str:
        """How the value stands among payments: 'more than for 97% of payments', or ''."""
        if name not in self.quantiles or math.isnan(value):
            return ""
        below, above = self.share_below(name, value), self.share_above(name, value)
        if below >= 1.0:
            return f"{more} than for any payment in training"
        if above >= 1.0:
            return f"{less} than for any payment in training"
        if below >= REMARKABLE:
            return f"{more} than for {percent(below)} of payments"
        if above >= REMARKABLE:
            return f"{less} than for {percent(above)} of payments"
        return "within the usual range of payments"

    def to_json(self) -> dict[str, Any]:
        return {
            "probabilities": list(PROBABILITIES),
            "quantiles": {k: list(v) for k, v in self.quantiles.items()},
            "means": dict(self.means),
            "missing": dict(self.missing),
            "fraud_rate": self.fraud_rate,
            "category_frauds": {k: list(v) for k, v in self.category_frauds.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Norms | None:
        """Norms as saved; None if they were kept at other probabilities (then they are not used)."""
        if tuple(data.get("probabilities", ())) != PROBABILITIES:
            return None
        return cls(
            {k: tuple(float(x) for x in v) for k, v in data["quantiles"].items()},
            {k: float(v) for k, v in data["means"].items()},
            {k: float(v) for k, v in data["missing"].items()},
            float(data["fraud_rate"]),
            {k: (int(v[0]), int(v[1])) for k, v in data["category_frauds"].items()},
        )


@lru_cache(maxsize=1_024)
def _share_between(quantiles: tuple[float, ...], low: float, high: float) -> float:
    values = np.asarray(quantiles)
    # The CDF at each distinct quantile is the highest probability kept there.
    unique = np.unique(values)
    at = _P[np.searchsorted(values, unique, side="right") - 1]
    low_cdf, high_cdf = np.interp([low, high], unique, at, left=0.0, right=1.0)
    return max(0.0, float(high_cdf - low_cdf))


class Row:
    """One payment's features by name, with the norms and label delay its reasons use."""

    __slots__ = ("delay_days", "index", "norms", "values")

    def __init__(self, values: FloatArray, index: Mapping[str, int], norms: Norms | None, delay_days: float) -> None:
        self.values = values
        self.index = index
        self.norms = norms
        self.delay_days = delay_days

    def __getitem__(self, name: str) -> float:
        """The payment's value of a feature; NaN if unknown or not among the model's features."""
        j = self.index.get(name)
        # A wording reads a few values: one Python float each costs less than the whole row's.
        return math.nan if j is None else float(self.values.item(j))

    def compare(self, name: str, value: float, more: str = "more", less: str = "less") -> str:
        """', more than for 97% of payments' (with its comma), or '' without norms."""
        phrase = "" if self.norms is None else self.norms.compare(name, value, more, less)
        return f", {phrase}" if phrase else ""
