"""The features a model uses (`FeatureSet`): which ones, computed how, read against what.

Each feature (`catalog.py`) is computed, vectorised, from the raw aggregates the kernel
read out of state (`fraudstream.features.raw`) and from the transaction itself
(`formulas.py`). A feature names the inputs it needs (customer ids, locations, ...); a
data set that lacks an input simply does not get the features that need it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from fraudstream.features.catalog import FEATURES, LABEL_FEATURES
from fraudstream.features.events import Events
from fraudstream.features.formulas import (
    CATEGORY_CONTRAST,
    COMPUTE_BLOCK,
    DEFAULT_LABEL_DELAY_DAYS,
    INPUTS,
    PER_PAYMENT_INPUTS,
    Context,
    Feature,
)
from fraudstream.features.layout import MAX_LABEL_DELAY_DAYS
from fraudstream.features.norms import Norms, Row, percent

__all__ = [
    "DEFAULT_LABEL_DELAY_DAYS",
    "FEATURES",
    "INPUTS",
    "LABEL_FEATURES",
    "Feature",
    "FeatureSet",
    "FeatureSetMismatchError",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


class FeatureSetMismatchError(ValueError):
    """A model asks for features this code does not compute."""


@dataclass(frozen=True)
class FeatureSet:
    """The features a model uses, in order, plus the encoders they need (JSON-serialisable)."""

    names: tuple[str, ...]
    extras: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    #: Matured windows end this long before each payment (see docs/features.md).
    label_delay_days: float = DEFAULT_LABEL_DELAY_DAYS
    #: The training population reasons compare with (None: not trained yet, or older).
    norms: Norms | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if not 0 <= self.label_delay_days <= MAX_LABEL_DELAY_DAYS:
            raise ValueError(
                f"the label delay must be between 0 and {MAX_LABEL_DELAY_DAYS} days, not {self.label_delay_days:g}"
            )

    @classmethod
    def for_inputs(
        cls,
        inputs: Iterable[str],
        extras: Sequence[str] = (),
        categories: Sequence[str] = (),
        label_delay_days: float = DEFAULT_LABEL_DELAY_DAYS,
    ) -> FeatureSet:
        """Every feature whose inputs are available; says once what is left out and why."""
        available = set(inputs)
        names: list[str] = []
        left_out: dict[str, list[str]] = {}
        for feature in FEATURES.values():
            missing = feature.requires - available
            if missing:
                for need in missing:
                    left_out.setdefault(need, []).append(feature.name)
            else:
                names.append(feature.name)
        for need, dropped in sorted(left_out.items()):
            log.info(
                "left out %d features that need %s: the data has no %s column",
                len(set(dropped)),
                need,
                INPUTS[need],
            )
        clash = set(extras) & set(FEATURES)
        if clash:
            raise ValueError(f"extra fields clash with feature names: {', '.join(sorted(clash))}")
        return cls(tuple(names) + tuple(extras), tuple(extras), tuple(sorted(categories)), label_delay_days)

    @cached_property
    def category_codes(self) -> dict[str, float]:
        return {name: float(i) for i, name in enumerate(self.categories)}

    @property
    def engineered(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n in FEATURES)

    def compute(self, raw: FloatArray, events: Events) -> FloatArray:
        """Feature matrix (transactions x names) from the kernel's raw output."""
        if len(events) <= COMPUTE_BLOCK:
            return self._compute(raw, events)
        # Block by block: the raw aggregates and features of a block stay in the CPU's cache
        # while its columns are read and its rows written.
        out = np.empty((len(events), len(self.names)))
        for start in range(0, len(events), COMPUTE_BLOCK):
            rows = np.arange(start, min(start + COMPUTE_BLOCK, len(events)))
            out[rows] = self._compute(raw[rows], events.take(rows))
        return out

    def _compute(self, raw: FloatArray, events: Events) -> FloatArray:
        ctx = Context(raw, events, self.category_codes)
        # Fill feature by feature into contiguous rows of the transpose: strided column
        # writes into a row-major matrix cost more than the features themselves.
        out = np.empty((len(self.names), len(events)))
        for j, name in enumerate(self.names):
            out[j] = FEATURES[name].compute(ctx) if name in FEATURES else events.extras[name]
        return np.ascontiguousarray(out.T)

    def with_norms(self, norms: Norms) -> FeatureSet:
        return replace(self, norms=norms)

    @cached_property
    def positions(self) -> dict[str, int]:
        """Each feature's column."""
        return {name: j for j, name in enumerate(self.names)}

    def needing(self, need: str) -> npt.NDArray[np.bool_]:
        """Per column, whether a payment must have this input (customer, ..., location) for
        its reason to be about it."""
        return self._needing[need]

    @cached_property
    def _needing(self) -> dict[str, npt.NDArray[np.bool_]]:
        return {
            need: np.array([name in FEATURES and need in FEATURES[name].requires for name in self.names], dtype=bool)
            for need in PER_PAYMENT_INPUTS
        }

    def row(self, values: FloatArray) -> Row:
        """One payment's features (a row of `compute`'s matrix), as its reasons read them."""
        return Row(values, self.positions, self.norms, self.label_delay_days)

    def explain(self, name: str, value: float, row: Row) -> str:
        """The feature's value in words, against a norm. `value` is a Python float: numpy's
        scalar calls cost far more, per reason."""
        if name not in FEATURES:
            return f"{name} = {value:.3g}" + row.compare(name, value)
        if name == "merchant_category_code" and 0 <= value < len(self.categories):
            return self._category_text(self.categories[int(value)])
        return FEATURES[name].text(value, row)

    def reads_as(self, name: str, value: float, row: Row) -> int:
        """+1 if the value reads as risk, -1 as reassurance, 0 neither (see `Feature.reads_as`)."""
        if name == "merchant_category_code":
            rate, overall = self._category_rate(value)
            return (
                0
                if rate != rate
                else (1 if rate > CATEGORY_CONTRAST * overall else -1 if rate * CATEGORY_CONTRAST < overall else 0)
            )
        feature = FEATURES.get(name)
        if feature is None or feature.reads_as is None or math.isnan(value):
            return 0
        return feature.reads_as(value, row)

    @cached_property
    def directional(self) -> tuple[bool, ...]:
        """Per column, whether some values read as risk or reassurance (see `reads_as`)."""
        return tuple(
            name == "merchant_category_code" or (name in FEATURES and FEATURES[name].reads_as is not None)
            for name in self.names
        )

    def _category_rate(self, code: float) -> tuple[float, float]:
        """The training fraud rate of the category with this code, and the overall one (NaN: unknown)."""
        if self.norms is None or not 0 <= code < len(self.categories):
            return math.nan, math.nan
        payments, frauds = self.norms.category_frauds.get(self.categories[int(code)], (0, 0))
        return (frauds / payments if payments else math.nan), self.norms.fraud_rate

    def _category_text(self, category: str) -> str:
        payments, frauds = (0, 0) if self.norms is None else self.norms.category_frauds.get(category, (0, 0))
        if not payments or self.norms is None:
            return f"merchant category {category}"
        return (
            f"merchant category {category}, where {percent(frauds / payments)} of training payments were fraud "
            f"(against {percent(self.norms.fraud_rate)} of all)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "extras": list(self.extras),
            "categories": list(self.categories),
            "label_delay_days": self.label_delay_days,
            "norms": None if self.norms is None else self.norms.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSet:
        names, extras = tuple(data["names"]), tuple(data.get("extras", ()))
        unknown = [n for n in names if n not in FEATURES and n not in extras]
        if unknown:
            raise FeatureSetMismatchError(
                f"the model uses features this version of fraudstream does not compute: {', '.join(unknown)}"
            )
        delay = float(data.get("label_delay_days", DEFAULT_LABEL_DELAY_DAYS))
        norms = Norms.from_json(data["norms"]) if data.get("norms") else None
        return cls(names, extras, tuple(data.get("categories", ())), delay, norms)
