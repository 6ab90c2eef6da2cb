"""Feature definitions: what each feature is, what it needs, how people read it.

Each feature is computed, vectorised, from the raw aggregates the kernel read out of
state (`fraudstream.features.raw`) and from the transaction itself. A feature names
the inputs it needs (customer ids, locations, ...); a data set that lacks an input
simply does not get the features that need it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from fraudstream.features.events import Events
from fraudstream.features.raw import CUSTOMER_WINDOWS, SHOP_WINDOWS, raw_index
from fraudstream.geo import haversine_km
from fraudstream.schema import Channel

__all__ = ["FEATURES", "INPUTS", "Feature", "FeatureSet", "FeatureSetMismatchError"]

log = logging.getLogger(__name__)

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


def _div(a: FloatArray, b: FloatArray) -> FloatArray:
    """a / b where b > 0, else NaN (no history, nothing to divide by)."""
    out = np.full(np.shape(b), np.nan)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _mean(ctx: Context, prefix: str, window: str) -> FloatArray:
    return ctx.memo(
        f"mean:{prefix}:{window}",
        lambda: _div(ctx.raw(f"{prefix}_sum_{window}"), ctx.raw(f"{prefix}_count_{window}")),
    )


def _std(ctx: Context, window: str) -> FloatArray:
    def compute() -> FloatArray:
        n = ctx.raw(f"c_count_{window}")
        total, squares = ctx.raw(f"c_sum_{window}"), ctx.raw(f"c_sumsq_{window}")
        mean = _mean(ctx, "c", window)
        enough = n >= 2
        var = np.full(n.shape, np.nan)
        np.divide(squares - total * mean, n - 1, out=var, where=enough)
        var[var <= VARIANCE_RELATIVE_FLOOR * mean * mean] = 0.0
        out = np.full(n.shape, np.nan)
        np.sqrt(np.maximum(var, 0.0), out=out, where=enough)
        return out

    return ctx.memo(f"std:{window}", compute)


def _usual_distance(ctx: Context) -> FloatArray:
    x, y, z = ctx.raw("c_x_30d"), ctx.raw("c_y_30d"), ctx.raw("c_z_30d")
    norm = np.sqrt(x * x + y * y + z * z)
    ok = (ctx.raw("c_loc_count_30d") > 0) & (norm > 1e-12)
    safe = np.where(ok, norm, 1.0)
    lat = np.degrees(np.arcsin(np.clip(z / safe, -1.0, 1.0)))
    lon = np.degrees(np.arctan2(y, x))
    km = haversine_km(lat, lon, ctx.events.latitude, ctx.events.longitude)
    return np.asarray(np.where(ok, km, np.nan), dtype=np.float64)


def _flag(values: Any) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400.0), ("h", 3_600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


Explain = str | tuple[str, str] | Callable[[float], str]


@dataclass(frozen=True)
class Feature:
    name: str
    requires: frozenset[str]
    description: str
    compute: Callable[[Context], FloatArray]
    #: How people read a value: a template with {v} ("amount is {v:.1f}× ..."), a pair of
    #: texts for flags (when 1, when 0), or a function.
    explain: Explain
    #: Text when the value is missing (NaN): no history, no location, ...
    missing: str = "not known"

    def text(self, value: float) -> str:
        if isinstance(self.explain, str):
            return self.explain.format(v=value)
        if isinstance(self.explain, tuple):
            return self.explain[0] if value else self.explain[1]
        return self.explain(value)


def _raw(name: str) -> Callable[[Context], FloatArray]:
    return lambda c: c.raw(name)


def _mean_of(prefix: str, window: str) -> Callable[[Context], FloatArray]:
    return lambda c: _mean(c, prefix, window)


def _std_of(window: str) -> Callable[[Context], FloatArray]:
    return lambda c: _std(c, window)


def _rate_of(prefix: str, window: str) -> Callable[[Context], FloatArray]:
    return lambda c: _div(c.raw(f"{prefix}_fraud_{window}"), c.raw(f"{prefix}_count_{window}"))


def _is_channel(channel: str) -> Callable[[Context], FloatArray]:
    return lambda c: _flag(c.events.channel == channel)


def _hour(c: Context) -> FloatArray:
    return np.asarray(np.mod(c.local_hours, 24.0), dtype=np.float64)


def _features() -> list[Feature]:
    out: list[Feature] = []

    def add(
        name: str,
        requires: Iterable[str],
        description: str,
        compute: Callable[[Context], FloatArray],
        explain: Explain,
        missing: str = "not known",
    ) -> None:
        out.append(Feature(name, frozenset(requires), description, compute, explain, missing))

    # -- the transaction itself ------------------------------------------------------
    add("amount", [], "Amount of the payment.", lambda c: c.events.amount, "amount {v:,.2f}")
    add(
        "hour_of_day",
        [],
        "Hour of the day, local solar time where the longitude is known, else UTC.",
        _hour,
        "paid at {v:.1f} h local time",
    )
    add(
        "is_night",
        [],
        "Paid between midnight and 6 am local time.",
        lambda c: _flag(_hour(c) < NIGHT_END_HOUR),
        ("paid at night", "paid in the daytime"),
    )
    add(
        "is_weekend",
        [],
        "Paid on a Saturday or Sunday (local date).",
        # 1970-01-01 was a Thursday: day 0 has weekday 3 (Monday = 0).
        lambda c: _flag(np.mod(np.floor(c.local_hours / 24.0) + 3, 7) >= 5),
        ("paid at the weekend", "paid on a weekday"),
    )
    for channel in Channel:
        spoken = channel.value.replace("_", " ")
        add(
            f"channel_{channel.value}",
            ["channel"],
            f"Payment channel is {channel.value}.",
            _is_channel(channel.value),
            (f"{spoken} payment", f"not a {spoken} payment"),
        )
    add(
        "merchant_category_code",
        ["category"],
        "Merchant category, as its position in the training vocabulary (NaN if unseen).",
        lambda c: _category_codes(c),
        "merchant category #{v:.0f}",
    )

    # -- customer behaviour ----------------------------------------------------------
    for w in CUSTOMER_WINDOWS:
        add(
            f"customer_count_{w}",
            ["customer"],
            f"Payments by the customer in the last {w}.",
            _raw(f"c_count_{w}"),
            f"{{v:.0f}} earlier payments by this customer in {w}",
        )
        add(
            f"customer_sum_{w}",
            ["customer"],
            f"Amount paid by the customer in the last {w}.",
            _raw(f"c_sum_{w}"),
            f"{{v:,.2f}} spent by this customer in {w}",
        )
        add(
            f"customer_mean_{w}",
            ["customer"],
            f"Mean amount of the customer's payments in the last {w}.",
            _mean_of("c", w),
            f"this customer's {w} average is {{v:,.2f}}",
            f"no payments by this customer in {w}",
        )
        add(
            f"customer_std_{w}",
            ["customer"],
            f"Standard deviation of the customer's amounts in the last {w}.",
            _std_of(w),
            f"this customer's amounts vary by {{v:,.2f}} over {w}",
            f"fewer than two payments by this customer in {w}",
        )
        add(
            f"customer_max_{w}",
            ["customer"],
            f"Largest amount the customer paid in the last {w}.",
            _raw(f"c_max_{w}"),
            f"this customer's largest payment in {w} was {{v:,.2f}}",
            f"no payments by this customer in {w}",
        )
    add(
        "customer_seconds_since_previous",
        ["customer"],
        "Seconds since the customer's previous payment.",
        _raw("c_prev_seconds"),
        lambda v: f"{_duration(v)} after this customer's previous payment",
        "first payment seen from this customer",
    )
    add(
        "customer_first_transaction",
        ["customer"],
        "No earlier payment of this customer is known.",
        lambda c: 1.0 - c.raw("c_has_history"),
        ("first payment seen from this customer", "a known customer"),
    )
    add(
        "amount_to_customer_mean_30d",
        ["customer"],
        "Amount divided by the customer's 30-day mean amount.",
        lambda c: _div(c.events.amount, _mean(c, "c", "30d")),
        "amount is {v:.1f}× this customer's 30-day average",
        "no 30-day history for this customer",
    )
    add(
        "amount_zscore_customer_30d",
        ["customer"],
        "How many standard deviations the amount is from the customer's 30-day mean.",
        lambda c: _div(c.events.amount - _mean(c, "c", "30d"), _std(c, "30d")),
        "amount is {v:+.1f} standard deviations from this customer's 30-day mean",
        "too little 30-day history for this customer",
    )
    add(
        "customer_distinct_merchants_24h",
        ["customer", "merchant"],
        "Distinct merchants the customer paid in the last 24 h.",
        _raw("c_distinct_merchants_24h"),
        "this customer paid {v:.0f} distinct merchants in 24 h",
    )
    add(
        "customer_new_merchant",
        ["customer", "merchant"],
        "The customer has not paid this merchant in the last 30 days.",
        _raw("c_new_merchant"),
        ("a merchant new to this customer", "a merchant this customer uses"),
    )
    add(
        "customer_distinct_devices_7d",
        ["customer", "device"],
        "Distinct devices the customer used in the last 7 days.",
        _raw("c_distinct_devices_7d"),
        "this customer used {v:.0f} devices in 7 days",
    )
    add(
        "customer_new_device",
        ["customer", "device"],
        "The customer has not used this device in the last 30 days.",
        _raw("c_new_device"),
        ("a device new to this customer", "a device this customer has used before"),
        "no device",
    )
    add(
        "customer_distance_previous_km",
        ["customer", "location"],
        "Distance (km) from the customer's previous located payment.",
        _raw("c_prev_km"),
        "{v:,.0f} km from this customer's previous payment",
        "no earlier located payment",
    )
    add(
        "customer_speed_previous_kmh",
        ["customer", "location"],
        "Implied travel speed (km/h) from the previous located payment (at least one minute apart).",
        lambda c: _div(c.raw("c_prev_km"), np.maximum(c.raw("c_prev_loc_seconds"), MIN_SPEED_SECONDS) / 3600.0),
        "implies travelling at {v:,.0f} km/h since the previous payment",
        "no earlier located payment",
    )
    add(
        "customer_distance_usual_km",
        ["customer", "location"],
        "Distance (km) from the centre of the customer's payments in the last 30 days.",
        _usual_distance,
        "{v:,.0f} km from where this customer usually pays",
        "no located payments in 30 days",
    )
    add(
        "customer_known_fraud_30d",
        ["customer"],
        "Payments of the customer in the last 30 days already confirmed as fraud.",
        _raw("c_fraud_30d"),
        "{v:.0f} confirmed frauds on this customer in 30 days",
    )

    # -- merchants and terminals -----------------------------------------------------
    for prefix, entity in (("m", "merchant"), ("t", "terminal")):
        for w in SHOP_WINDOWS:
            add(
                f"{entity}_count_{w}",
                [entity],
                f"Payments at the {entity} in the last {w}.",
                _raw(f"{prefix}_count_{w}"),
                f"{{v:.0f}} payments at this {entity} in {w}",
            )
            add(
                f"{entity}_mean_amount_{w}",
                [entity],
                f"Mean amount at the {entity} in the last {w}.",
                _mean_of(prefix, w),
                f"this {entity}'s {w} average amount is {{v:,.2f}}",
                f"no payments at this {entity} in {w}",
            )
        for w in ("7d", "30d"):
            add(
                f"{entity}_fraud_rate_{w}",
                [entity],
                f"Share of the {entity}'s payments in the last {w} confirmed as fraud by now "
                "(labels count only once reported).",
                _rate_of(prefix, w),
                f"{{v:.1%}} of this {entity}'s payments in {w} are confirmed fraud",
                f"no payments at this {entity} in {w}",
            )

    # -- devices ---------------------------------------------------------------------
    for w in ("24h", "7d"):
        add(
            f"device_distinct_customers_{w}",
            ["device"],
            f"Distinct customers who used the device in the last {w}.",
            _raw(f"v_distinct_customers_{w}"),
            f"this device was used by {{v:.0f}} customers in {w}",
        )
    return out


def _category_codes(ctx: Context) -> FloatArray:
    codes = ctx.categories
    return np.fromiter((codes.get(c, np.nan) for c in ctx.events.category), np.float64, len(ctx.events))


FEATURES: Final = {f.name: f for f in _features()}


class FeatureSetMismatchError(ValueError):
    """A model asks for features this code does not compute."""


@dataclass(frozen=True)
class FeatureSet:
    """The features a model uses, in order, plus the encoders they need (JSON-serialisable)."""

    names: tuple[str, ...]
    extras: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @classmethod
    def for_inputs(
        cls, inputs: Iterable[str], extras: Sequence[str] = (), categories: Sequence[str] = ()
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
        return cls(tuple(names) + tuple(extras), tuple(extras), tuple(sorted(categories)))

    @cached_property
    def category_codes(self) -> dict[str, float]:
        return {name: float(i) for i, name in enumerate(self.categories)}

    @property
    def engineered(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n in FEATURES)

    def compute(self, raw: FloatArray, events: Events) -> FloatArray:
        """Feature matrix (transactions x names) from the kernel's raw output."""
        ctx = Context(raw, events, self.category_codes)
        # Fill feature by feature into contiguous rows of the transpose: strided column
        # writes into a row-major matrix cost more than the features themselves.
        out = np.empty((len(self.names), len(events)))
        for j, name in enumerate(self.names):
            out[j] = FEATURES[name].compute(ctx) if name in FEATURES else events.extras[name]
        return np.ascontiguousarray(out.T)

    def explain(self, name: str, value: float) -> str:
        if name not in FEATURES:
            return f"{name} = {value:.3g}"
        feature = FEATURES[name]
        if math.isnan(value):  # a Python float: numpy's scalar call costs 30x more, per reason
            return feature.missing
        if name == "merchant_category_code" and 0 <= value < len(self.categories):
            return f"merchant category {self.categories[int(value)]}"
        return feature.text(value)

    def to_json(self) -> dict[str, Any]:
        return {"names": list(self.names), "extras": list(self.extras), "categories": list(self.categories)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSet:
        names, extras = tuple(data["names"]), tuple(data.get("extras", ()))
        unknown = [n for n in names if n not in FEATURES and n not in extras]
        if unknown:
            raise FeatureSetMismatchError(
                f"the model uses features this version of fraudstream does not compute: {', '.join(unknown)}"
            )
        return cls(names, extras, tuple(data.get("categories", ())))
