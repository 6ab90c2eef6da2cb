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
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from fraudstream.features import wording as wd
from fraudstream.features.events import Events
from fraudstream.features.layout import K_DAY_SLOTS, MAX_LABEL_DELAY_DAYS
from fraudstream.features.norms import Norms, Row, percent
from fraudstream.features.raw import CUSTOMER_WINDOWS, MATURED_WINDOWS, SHOP_WINDOWS, raw_index
from fraudstream.features.wording import Wording
from fraudstream.geo import haversine_km
from fraudstream.schema import Channel

__all__ = ["DEFAULT_LABEL_DELAY_DAYS", "FEATURES", "INPUTS", "Feature", "FeatureSet", "FeatureSetMismatchError"]

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


def _div(a: FloatArray, b: FloatArray) -> FloatArray:
    """a / b where b > 0, else NaN (no history, nothing to divide by)."""
    out = np.full(np.shape(b), np.nan)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _ratios(ctx: Context, key: str, numerators: list[int], denominators: list[int]) -> FloatArray:
    """Several ratios of raw columns in one division: per call, numpy's overhead costs a
    batch of one more than the arithmetic."""
    matrix = ctx.raw_matrix
    return ctx.memo(key, lambda: _div(matrix[:, numerators], matrix[:, denominators]))


_MEANS: Final = [("c", w) for w in CUSTOMER_WINDOWS] + [(p, w) for p in ("m", "t") for w in SHOP_WINDOWS]
_MEAN_AT: Final = {key: j for j, key in enumerate(_MEANS)}
_MEAN_SUMS: Final = [raw_index(f"{p}_sum_{w}") for p, w in _MEANS]
_MEAN_COUNTS: Final = [raw_index(f"{p}_count_{w}") for p, w in _MEANS]
_RATES: Final = [(p, w) for p, _ in RISK_ENTITIES for w, _ in MATURED_WINDOWS]
_RATE_AT: Final = {key: j for j, key in enumerate(_RATES)}
_RATE_FRAUDS: Final = [raw_index(f"{p}_matured_frauds_{w}") for p, w in _RATES]
_RATE_PAYMENTS: Final = [raw_index(f"{p}_matured_payments_{w}") for p, w in _RATES]


def _mean(ctx: Context, prefix: str, window: str) -> FloatArray:
    return _ratios(ctx, "means", _MEAN_SUMS, _MEAN_COUNTS)[:, _MEAN_AT[(prefix, window)]]


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

    def text(self, value: float, row: Row) -> str:
        return self.missing if math.isnan(value) else self.wording(value, row)


def _raw(name: str) -> Callable[[Context], FloatArray]:
    return lambda c: c.raw(name)


def _mean_of(prefix: str, window: str) -> Callable[[Context], FloatArray]:
    return lambda c: _mean(c, prefix, window)


def _std_of(window: str) -> Callable[[Context], FloatArray]:
    return lambda c: _std(c, window)


def _amount_to_mean(prefix: str) -> Callable[[Context], FloatArray]:
    return lambda c: _div(c.events.amount, _mean(c, prefix, "30d"))


def _mean_shift(prefix: str) -> Callable[[Context], FloatArray]:
    return lambda c: _div(_mean(c, prefix, "1d"), _mean(c, prefix, "30d"))


def _matured_rate(prefix: str, window: str) -> Callable[[Context], FloatArray]:
    j = _RATE_AT[(prefix, window)]
    return lambda c: _ratios(c, "matured rates", _RATE_FRAUDS, _RATE_PAYMENTS)[:, j]


def _is_channel(channel: str) -> Callable[[Context], FloatArray]:
    return lambda c: _flag(c.events.channel == channel)


def _hour(c: Context) -> FloatArray:
    return np.asarray(np.mod(c.local_hours, 24.0), dtype=np.float64)


def _risk_when_positive(value: float, row: Row) -> int:
    """Known fraud reads as risk; none as reassurance."""
    return 1 if value > 0 else -1


def _hour_wording(v: float, row: Row) -> str:
    hour, minute = int(v), int((v - int(v)) * 60)
    head = f"paid at {hour:02d}:{minute:02d} local time"
    share = math.nan if row.norms is None else row.norms.share_between("hour_of_day", hour, hour + 1)
    if share != share:
        return head
    return f"{head}; {percent(share)} of payments are made between {hour:02d}:00 and {(hour + 1) % 24:02d}:00"


def _features() -> list[Feature]:
    out: list[Feature] = []

    def add(
        name: str,
        requires: Iterable[str],
        description: str,
        compute: Callable[[Context], FloatArray],
        wording: Wording,
        missing: str = "not known",
        reads_as: Callable[[float, Row], int] | None = None,
    ) -> None:
        out.append(Feature(name, frozenset(requires), description, compute, wording, missing, reads_as))

    # -- the transaction itself ------------------------------------------------------
    add(
        "amount",
        [],
        "Amount of the payment.",
        lambda c: c.events.amount,
        wd.population("amount", "amount {v:,.2f}"),
        reads_as=wd.typical_of_payments("amount"),
    )
    add(
        "hour_of_day",
        [],
        "Hour of the day, local solar time where the longitude is known, else UTC.",
        _hour,
        _hour_wording,
    )
    add(
        "is_night",
        [],
        "Paid between midnight and 6 am local time.",
        lambda c: _flag(_hour(c) < NIGHT_END_HOUR),
        wd.flag("is_night", "paid at night (0-6 h local time)", "paid in the daytime"),
    )
    add(
        "is_weekend",
        [],
        "Paid on a Saturday or Sunday (local date).",
        # 1970-01-01 was a Thursday: day 0 has weekday 3 (Monday = 0).
        lambda c: _flag(np.mod(np.floor(c.local_hours / 24.0) + 3, 7) >= 5),
        wd.flag("is_weekend", "paid at the weekend", "paid on a weekday"),
    )
    for channel in Channel:
        spoken = channel.value.replace("_", "-")
        add(
            f"channel_{channel.value}",
            ["channel"],
            f"Payment channel is {channel.value}.",
            _is_channel(channel.value),
            wd.flag(f"channel_{channel.value}", f"a {spoken} payment", f"not a {spoken} payment"),
        )
    add(
        "merchant_category_code",
        ["category"],
        "Merchant category, as its position in the training vocabulary (NaN if unseen).",
        lambda c: _category_codes(c),
        lambda v, row: f"merchant category #{v:.0f}",  # named by `FeatureSet.explain`, which knows the vocabulary
        "a merchant category not seen in training",
    )

    # -- customer behaviour ----------------------------------------------------------
    for w in CUSTOMER_WINDOWS:
        add(
            f"customer_count_{w}",
            ["customer"],
            f"Payments by the customer in the last {w}.",
            _raw(f"c_count_{w}"),
            wd.count_in_window(f"customer_count_{w}", "by this customer", w, "customer_count_30d"),
            reads_as=wd.typical_of_month(f"customer_count_{w}", w, "customer_count_30d"),
        )
        add(
            f"customer_sum_{w}",
            ["customer"],
            f"Amount paid by the customer in the last {w}.",
            _raw(f"c_sum_{w}"),
            wd.sum_in_window(f"customer_sum_{w}", "this customer", w, "customer_sum_30d"),
            reads_as=wd.typical_of_month(f"customer_sum_{w}", w, "customer_sum_30d"),
        )
        add(
            f"customer_mean_{w}",
            ["customer"],
            f"Mean amount of the customer's payments in the last {w}.",
            _mean_of("c", w),
            wd.average_payment("this customer's", w, "customer_mean_30d"),
            f"no payments by this customer in {wd.WINDOW_WORDS[w]}",
            wd.typical_average(w, "customer_mean_30d"),
        )
        add(
            f"customer_std_{w}",
            ["customer"],
            f"Standard deviation of the customer's amounts in the last {w}.",
            _std_of(w),
            wd.spread("this customer's", w, "customer_std_30d", "customer_mean_30d"),
            f"fewer than two payments by this customer in {wd.WINDOW_WORDS[w]}",
        )
        add(
            f"customer_max_{w}",
            ["customer"],
            f"Largest amount the customer paid in the last {w}.",
            _raw(f"c_max_{w}"),
            wd.largest_payment("this customer's", w),
            f"no payments by this customer in {wd.WINDOW_WORDS[w]}",
        )
    add(
        "customer_seconds_since_previous",
        ["customer"],
        "Seconds since the customer's previous payment.",
        _raw("c_prev_seconds"),
        wd.since_previous("customer_seconds_since_previous", "customer_count_30d"),
        "first payment seen from this customer",
    )
    add(
        "customer_first_transaction",
        ["customer"],
        "No earlier payment of this customer is known.",
        lambda c: 1.0 - c.raw("c_has_history"),
        wd.flag(
            "customer_first_transaction", "first payment seen from this customer", "a customer with earlier payments"
        ),
    )
    add(
        "amount_to_customer_mean_30d",
        ["customer"],
        "Amount divided by the customer's 30-day mean amount.",
        lambda c: _div(c.events.amount, _mean(c, "c", "30d")),
        wd.amount_ratio("this customer's", "customer_mean_30d"),
        "no payments by this customer in the last 30 days",
    )
    add(
        "amount_zscore_customer_30d",
        ["customer"],
        "How many standard deviations the amount is from the customer's 30-day mean.",
        lambda c: _div(c.events.amount - _mean(c, "c", "30d"), _std(c, "30d")),
        wd.zscore("customer_mean_30d"),
        "fewer than two payments by this customer in the last 30 days",
    )
    add(
        "customer_distinct_merchants_24h",
        ["customer", "merchant"],
        "Distinct merchants the customer paid in the last 24 h.",
        _raw("c_distinct_merchants_24h"),
        wd.counted("customer_distinct_merchants_24h", "this customer paid ", "distinct merchant", " in 24 hours"),
    )
    add(
        "customer_new_merchant",
        ["customer", "merchant"],
        "The customer has not paid this merchant in the last 30 days.",
        _raw("c_new_merchant"),
        wd.flag(
            "customer_new_merchant",
            "a merchant this customer has not paid in 30 days",
            "a merchant this customer paid in the last 30 days",
        ),
    )
    add(
        "customer_distinct_devices_7d",
        ["customer", "device"],
        "Distinct devices the customer used in the last 7 days.",
        _raw("c_distinct_devices_7d"),
        wd.counted("customer_distinct_devices_7d", "this customer used ", "device", " in 7 days"),
    )
    add(
        "customer_new_device",
        ["customer", "device"],
        "The customer has not used this device in the last 30 days.",
        _raw("c_new_device"),
        wd.flag(
            "customer_new_device",
            "a device this customer has not used in 30 days",
            "a device this customer used in the last 30 days",
        ),
    )
    add(
        "customer_distance_previous_km",
        ["customer", "location"],
        "Distance (km) from the customer's previous located payment.",
        _raw("c_prev_km"),
        wd.population(
            "customer_distance_previous_km", "{v:,.0f} km from this customer's previous payment", "farther", "closer"
        ),
        "no earlier located payment of this customer",
    )
    add(
        "customer_speed_previous_kmh",
        ["customer", "location"],
        "Implied travel speed (km/h) from the previous located payment (at least one minute apart).",
        lambda c: _div(c.raw("c_prev_km"), np.maximum(c.raw("c_prev_loc_seconds"), MIN_SPEED_SECONDS) / 3600.0),
        wd.travel_speed("customer_speed_previous_kmh"),
        "no earlier located payment of this customer",
        lambda v, row: 1 if v >= wd.AIRLINER_KMH else 0,
    )
    add(
        "customer_distance_usual_km",
        ["customer", "location"],
        "Distance (km) from the centre of the customer's payments in the last 30 days.",
        _usual_distance,
        wd.distance_from_usual("customer_distance_usual_km", "customer_count_30d"),
        "no located payments of this customer in the last 30 days",
    )

    # -- merchants and terminals -----------------------------------------------------
    for prefix, entity in (("m", "merchant"), ("t", "terminal")):
        whose = f"this {entity}'s"
        for w in SHOP_WINDOWS:
            add(
                f"{entity}_count_{w}",
                [entity],
                f"Payments at the {entity} in the last {w}.",
                _raw(f"{prefix}_count_{w}"),
                wd.count_in_window(f"{entity}_count_{w}", f"at this {entity}", w, f"{entity}_count_30d"),
                reads_as=wd.typical_of_month(f"{entity}_count_{w}", w, f"{entity}_count_30d"),
            )
            add(
                f"{entity}_mean_amount_{w}",
                [entity],
                f"Mean amount at the {entity} in the last {w}.",
                _mean_of(prefix, w),
                wd.average_payment(whose, w, f"{entity}_mean_amount_30d"),
                f"no payments at this {entity} in {wd.WINDOW_WORDS[w]}",
                wd.typical_average(w, f"{entity}_mean_amount_30d"),
            )
        add(
            f"amount_to_{entity}_mean_30d",
            [entity],
            f"Amount divided by the {entity}'s 30-day mean amount.",
            _amount_to_mean(prefix),
            wd.amount_ratio(whose, f"{entity}_mean_amount_30d"),
            f"no payments at this {entity} in the last 30 days",
        )
        add(
            f"{entity}_mean_amount_1d_to_30d",
            [entity],
            f"The {entity}'s mean amount of the last day divided by its 30-day mean: a shift in what is paid there.",
            _mean_shift(prefix),
            wd.shift_of_mean(whose, f"{entity}_mean_amount_1d", f"{entity}_mean_amount_30d"),
            f"no payments at this {entity} in the last day",
        )

    # -- devices ---------------------------------------------------------------------
    for w in ("24h", "7d"):
        add(
            f"device_distinct_customers_{w}",
            ["device"],
            f"Distinct customers who used the device in the last {w}.",
            _raw(f"v_distinct_customers_{w}"),
            wd.counted(
                f"device_distinct_customers_{w}", "this device was used by ", "customer", f" in {wd.WINDOW_WORDS[w]}"
            ),
        )

    # -- what confirmed fraud says about each entity ---------------------------------
    for prefix, entity in RISK_ENTITIES:
        for w, days in MATURED_WINDOWS:
            span = "day" if days == 1 else f"{days} days"
            add(
                f"{entity}_matured_payments_{w}",
                [entity],
                f"Payments of the {entity} in the {span} ending one label delay before now (matured: "
                "their fraud labels are mostly in).",
                _raw(f"{prefix}_matured_payments_{w}"),
                wd.matured_payments(f"{entity}_matured_payments_{w}", entity, w),
                reads_as=wd.typical_of_payments(f"{entity}_matured_payments_{w}"),
            )
            add(
                f"{entity}_matured_fraud_rate_{w}",
                [entity],
                f"Share of the {entity}'s matured payments of {w} (see above) known to be fraud by now.",
                _matured_rate(prefix, w),
                wd.matured_rate(entity, w, f"{entity}_matured_payments_{w}"),
                f"no matured payments of this {entity} in {w}",
                _risk_when_positive,
            )
        add(
            f"{entity}_known_frauds_7d",
            [entity],
            f"The {entity}'s payments of the last 7 days known to be fraud by now.",
            _raw(f"{prefix}_known_frauds_7d"),
            wd.counted(
                f"{entity}_known_frauds_7d",
                "",
                "confirmed fraud",
                f" among this {entity}'s payments of the last 7 days",
            ),
            reads_as=_risk_when_positive,
        )
        for w in ("24h", "7d"):
            add(
                f"{entity}_frauds_reported_{w}",
                [entity],
                f"Frauds on the {entity}'s payments reported in the last {w}.",
                _raw(f"{prefix}_reports_{w}"),
                wd.counted(
                    f"{entity}_frauds_reported_{w}", "", "fraud", f" on this {entity} reported in {wd.WINDOW_WORDS[w]}"
                ),
                reads_as=_risk_when_positive,
            )
        add(
            f"{entity}_days_since_known_fraud",
            [entity],
            f"Days since the {entity}'s latest payment known to be fraud (NaN: none known in "
            f"{RISK_HORIZON_DAYS} days).",
            _raw(f"{prefix}_days_since_fraud"),
            wd.days_since_fraud(f"{entity}_days_since_known_fraud", entity, RISK_HORIZON_DAYS),
            f"no known fraud on this {entity} in {RISK_HORIZON_DAYS} days",
            lambda v, row: 1,  # a known fraud (a missing value has no text to contradict)
        )
    return out


def _category_codes(ctx: Context) -> FloatArray:
    codes = ctx.categories
    return np.fromiter((codes.get(c, np.nan) for c in ctx.events.category), np.float64, len(ctx.events))


FEATURES: Final = {f.name: f for f in _features()}
#: The features computed from labels (what confirmed fraud says about an entity).
LABEL_FEATURES: Final = frozenset(
    f"{entity}_{what}"
    for _, entity in RISK_ENTITIES
    for what in (
        *(f"matured_{kind}_{w}" for w, _ in MATURED_WINDOWS for kind in ("payments", "fraud_rate")),
        "known_frauds_7d",
        "frauds_reported_24h",
        "frauds_reported_7d",
        "days_since_known_fraud",
    )
)


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
