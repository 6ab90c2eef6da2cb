"""What feature formulas are made of: the batch's context, the raw aggregates' windows,
and the small vectorised helpers every feature's formula is written with."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from fraudstream.features.events import Events
from fraudstream.features.layout import K_DAY_SLOTS
from fraudstream.features.norms import Row, percent
from fraudstream.features.raw import CUSTOMER_WINDOWS, MATURED_WINDOWS, SHOP_WINDOWS, raw_index
from fraudstream.features.wording import Flag, Wording
from fraudstream.geo import haversine_km

FloatArray = npt.NDArray[np.float64]

#: Inputs a feature may need, and the column that provides each.
INPUTS: Final = {
    "customer": "customer_id",
    "merchant": "merchant_id",
    "terminal": "terminal_id",
    "device": "device_id",
    "location": "latitude/longitude",
    "channel": "channel",
    "category": "merchant_category",
}

#: Entities with risk features, by raw-column prefix.
RISK_ENTITIES: Final = (("c", "customer"), ("m", "merchant"), ("t", "terminal"), ("v", "device"))
RISK_HORIZON_DAYS: Final = K_DAY_SLOTS
#: Days after a payment its fraud label is assumed known, where the data cannot say.
DEFAULT_LABEL_DELAY_DAYS: Final = 7.0

MIN_SPEED_SECONDS = 60.0  # implied speed over less than a minute is noise, not travel
NIGHT_END_HOUR = 6.0
# Variances this small relative to the mean are float round-off of identical amounts.
VARIANCE_RELATIVE_FLOOR = 1e-13


class Context:
    """What features are computed from: the raw aggregates and the transactions."""

    def __init__(self, raw: FloatArray, events: Events, categories: dict[str, float]) -> None:
        self.raw_matrix = raw
        self.events = events
        self.categories = categories
        self._memo: dict[str, FloatArray] = {}

    def raw(self, name: str) -> FloatArray:
        return self.raw_matrix[:, raw_index(name)]

    def memo(self, key: str, compute: Callable[[], FloatArray]) -> FloatArray:
        """Intermediate results several features share (means, deviations)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @cached_property
    def local_hours(self) -> FloatArray:
        """Hours since the epoch in local solar time where the longitude is known, else UTC."""
        lon = self.events.longitude
        offset = np.where(np.isnan(lon), 0.0, lon / 15.0)
        return np.asarray(self.events.ts_ms / 3_600_000.0 + offset, dtype=np.float64)


def div(a: FloatArray, b: FloatArray) -> FloatArray:
    """a / b where b > 0, else NaN (no history, nothing to divide by)."""
    out = np.full(np.shape(b), np.nan)
    np.divide(a, b, out=out, where=b > 0)
    return out


def ratios(ctx: Context, key: str, numerators: list[int], denominators: list[int]) -> FloatArray:
    """Several ratios of raw columns in one division: per call, numpy's overhead costs a
    batch of one more than the arithmetic."""
    matrix = ctx.raw_matrix
    return ctx.memo(key, lambda: div(matrix[:, numerators], matrix[:, denominators]))


_MEANS: Final = [("c", w) for w in CUSTOMER_WINDOWS] + [(p, w) for p in ("m", "t") for w in SHOP_WINDOWS]
_MEAN_AT: Final = {key: j for j, key in enumerate(_MEANS)}
_MEAN_SUMS: Final = [raw_index(f"{p}_sum_{w}") for p, w in _MEANS]
_MEAN_COUNTS: Final = [raw_index(f"{p}_count_{w}") for p, w in _MEANS]
_RATES: Final = [(p, w) for p, _ in RISK_ENTITIES for w, _ in MATURED_WINDOWS]
_RATE_AT: Final = {key: j for j, key in enumerate(_RATES)}
_RATE_FRAUDS: Final = [raw_index(f"{p}_matured_frauds_{w}") for p, w in _RATES]
_RATE_PAYMENTS: Final = [raw_index(f"{p}_matured_payments_{w}") for p, w in _RATES]


def mean(ctx: Context, prefix: str, window: str) -> FloatArray:
    return ratios(ctx, "means", _MEAN_SUMS, _MEAN_COUNTS)[:, _MEAN_AT[(prefix, window)]]


def std(ctx: Context, window: str) -> FloatArray:
    def compute() -> FloatArray:
        n = ctx.raw(f"c_count_{window}")
        total, squares = ctx.raw(f"c_sum_{window}"), ctx.raw(f"c_sumsq_{window}")
        average = mean(ctx, "c", window)
        enough = n >= 2
        var = np.full(n.shape, np.nan)
        np.divide(squares - total * average, n - 1, out=var, where=enough)
        var[var <= VARIANCE_RELATIVE_FLOOR * average * average] = 0.0
        out = np.full(n.shape, np.nan)
        np.sqrt(np.maximum(var, 0.0), out=out, where=enough)
        return out

    return ctx.memo(f"std:{window}", compute)


def usual_distance(ctx: Context) -> FloatArray:
    x, y, z = ctx.raw("c_x_30d"), ctx.raw("c_y_30d"), ctx.raw("c_z_30d")
    norm = np.sqrt(x * x + y * y + z * z)
    ok = (ctx.raw("c_loc_count_30d") > 0) & (norm > 1e-12)
    safe = np.where(ok, norm, 1.0)
    lat = np.degrees(np.arcsin(np.clip(z / safe, -1.0, 1.0)))
    lon = np.degrees(np.arctan2(y, x))
    km = haversine_km(lat, lon, ctx.events.latitude, ctx.events.longitude)
    return np.asarray(np.where(ok, km, np.nan), dtype=np.float64)


def flag(values: Any) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


#: Transactions whose features are computed together (see `FeatureSet.compute`).
COMPUTE_BLOCK: Final = 8_192

#: A category's fraud rate this many times the overall one (or its inverse) reads as risk (or reassurance).
CATEGORY_CONTRAST: Final = 1.25

#: Inputs that a single payment may have or lack: a reason about one it lacks is left out.
PER_PAYMENT_INPUTS: Final = ("customer", "merchant", "terminal", "device", "location")


@dataclass(frozen=True)
class Feature:
    name: str
    requires: frozenset[str]
    description: str
    compute: Callable[[Context], FloatArray]
    #: How people read a value, against a norm (see `fraudstream.features.wording`).
    wording: Wording
    #: Text when the value is missing (NaN) although the payment has what the feature needs.
    missing: str = "not known"
    #: Whether a value reads as risk (+1), as reassurance (-1) or neither (0), whatever
    #: its push on one score: a reason never says the opposite of the score's direction.
    reads_as: Callable[[float, Row], int] | None = None

    @property
    def is_flag(self) -> bool:
        """A yes/no feature: 1.0 or 0.0 (NaN when not known)."""
        return isinstance(self.wording, Flag)

    def text(self, value: float, row: Row) -> str:
        return self.missing if math.isnan(value) else self.wording(value, row)


def raw(name: str) -> Callable[[Context], FloatArray]:
    return lambda c: c.raw(name)


def mean_of(prefix: str, window: str) -> Callable[[Context], FloatArray]:
    return lambda c: mean(c, prefix, window)


def std_of(window: str) -> Callable[[Context], FloatArray]:
    return lambda c: std(c, window)


def amount_to_mean(prefix: str) -> Callable[[Context], FloatArray]:
    return lambda c: div(c.events.amount, mean(c, prefix, "30d"))


def mean_shift(prefix: str) -> Callable[[Context], FloatArray]:
    return lambda c: div(mean(c, prefix, "1d"), mean(c, prefix, "30d"))


def matured_rate(prefix: str, window: str) -> Callable[[Context], FloatArray]:
    j = _RATE_AT[(prefix, window)]
    return lambda c: ratios(c, "matured rates", _RATE_FRAUDS, _RATE_PAYMENTS)[:, j]


def is_channel(channel: str) -> Callable[[Context], FloatArray]:
    return lambda c: flag(c.events.channel == channel)


def hour(c: Context) -> FloatArray:
    return np.asarray(np.mod(c.local_hours, 24.0), dtype=np.float64)


def risk_when_positive(value: float, row: Row) -> int:
    """Known fraud reads as risk; none as reassurance."""
    return 1 if value > 0 else -1


def hour_wording(v: float, row: Row) -> str:
    hour, minute = int(v), int((v - int(v)) * 60)
    head = f"paid at {hour:02d}:{minute:02d} local time"
    share = math.nan if row.norms is None else row.norms.share_between("hour_of_day", hour, hour + 1)
    if share != share:
        return head
    return f"{head}; {percent(share)} of payments are made between {hour:02d}:00 and {(hour + 1) % 24:02d}:00"


def category_codes(ctx: Context) -> FloatArray:
    codes = ctx.categories
    return np.fromiter((codes.get(c, np.nan) for c in ctx.events.category), np.float64, len(ctx.events))
