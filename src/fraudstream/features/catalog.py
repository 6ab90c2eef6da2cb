"""Every feature fraudstream computes: its name, what it needs, its formula and its wording."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

import numpy as np

from fraudstream.features import wording as wd
from fraudstream.features.formulas import (
    MIN_SPEED_SECONDS,
    NIGHT_END_HOUR,
    RISK_ENTITIES,
    RISK_HORIZON_DAYS,
    Context,
    Feature,
    FloatArray,
    amount_to_mean,
    category_codes,
    div,
    flag,
    hour,
    hour_wording,
    is_channel,
    matured_rate,
    mean,
    mean_of,
    mean_shift,
    raw,
    risk_when_positive,
    std,
    std_of,
    usual_distance,
)
from fraudstream.features.norms import Row
from fraudstream.features.raw import CUSTOMER_WINDOWS, MATURED_WINDOWS, SHOP_WINDOWS
from fraudstream.features.wording import Wording
from fraudstream.schema import Channel

__all__ = ["FEATURES", "LABEL_FEATURES"]


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
        hour,
        hour_wording,
    )
    add(
        "is_night",
        [],
        "Paid between midnight and 6 am local time.",
        lambda c: flag(hour(c) < NIGHT_END_HOUR),
        wd.flag("is_night", "paid at night (0-6 h local time)", "paid in the daytime"),
    )
    add(
        "is_weekend",
        [],
        "Paid on a Saturday or Sunday (local date).",
        # 1970-01-01 was a Thursday: day 0 has weekday 3 (Monday = 0).
        lambda c: flag(np.mod(np.floor(c.local_hours / 24.0) + 3, 7) >= 5),
        wd.flag("is_weekend", "paid at the weekend", "paid on a weekday"),
    )
    for channel in Channel:
        spoken = channel.value.replace("_", "-")
        add(
            f"channel_{channel.value}",
            ["channel"],
            f"Payment channel is {channel.value}.",
            is_channel(channel.value),
            wd.flag(f"channel_{channel.value}", f"a {spoken} payment", f"not a {spoken} payment"),
        )
    add(
        "merchant_category_code",
        ["category"],
        "Merchant category, as its position in the training vocabulary (NaN if unseen).",
        lambda c: category_codes(c),
        lambda v, row: f"merchant category #{v:.0f}",  # named by `FeatureSet.explain`, which knows the vocabulary
        "a merchant category not seen in training",
    )

    # -- customer behaviour ----------------------------------------------------------
    for w in CUSTOMER_WINDOWS:
        add(
            f"customer_count_{w}",
            ["customer"],
            f"Payments by the customer in the last {w}.",
            raw(f"c_count_{w}"),
            wd.count_in_window(f"customer_count_{w}", "by this customer", w, "customer_count_30d"),
            reads_as=wd.typical_of_month(f"customer_count_{w}", w, "customer_count_30d"),
        )
        add(
            f"customer_sum_{w}",
            ["customer"],
            f"Amount paid by the customer in the last {w}.",
            raw(f"c_sum_{w}"),
            wd.sum_in_window(f"customer_sum_{w}", "this customer", w, "customer_sum_30d"),
            reads_as=wd.typical_of_month(f"customer_sum_{w}", w, "customer_sum_30d"),
        )
        add(
            f"customer_mean_{w}",
            ["customer"],
            f"Mean amount of the customer's payments in the last {w}.",
            mean_of("c", w),
            wd.average_payment("this customer's", w, "customer_mean_30d"),
            f"no payments by this customer in {wd.WINDOW_WORDS[w]}",
            wd.typical_average(w, "customer_mean_30d"),
        )
        add(
            f"customer_std_{w}",
            ["customer"],
            f"Standard deviation of the customer's amounts in the last {w}.",
            std_of(w),
            wd.spread("this customer's", w, "customer_std_30d", "customer_mean_30d"),
            f"fewer than two payments by this customer in {wd.WINDOW_WORDS[w]}",
        )
        add(
            f"customer_max_{w}",
            ["customer"],
            f"Largest amount the customer paid in the last {w}.",
            raw(f"c_max_{w}"),
            wd.largest_payment("this customer's", w),
            f"no payments by this customer in {wd.WINDOW_WORDS[w]}",
        )
    add(
        "customer_seconds_since_previous",
        ["customer"],
        "Seconds since the customer's previous payment.",
        raw("c_prev_seconds"),
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
        lambda c: div(c.events.amount, mean(c, "c", "30d")),
        wd.amount_ratio("this customer's", "customer_mean_30d"),
        "no payments by this customer in the last 30 days",
    )
    add(
        "amount_zscore_customer_30d",
        ["customer"],
        "How many standard deviations the amount is from the customer's 30-day mean.",
        lambda c: div(c.events.amount - mean(c, "c", "30d"), std(c, "30d")),
        wd.zscore("customer_mean_30d"),
        "fewer than two payments by this customer in the last 30 days",
    )
    add(
        "customer_distinct_merchants_24h",
        ["customer", "merchant"],
        "Distinct merchants the customer paid in the last 24 h.",
        raw("c_distinct_merchants_24h"),
        wd.counted("customer_distinct_merchants_24h", "this customer paid ", "distinct merchant", " in 24 hours"),
    )
    add(
        "customer_new_merchant",
        ["customer", "merchant"],
        "The customer has not paid this merchant in the last 30 days.",
        raw("c_new_merchant"),
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
        raw("c_distinct_devices_7d"),
        wd.counted("customer_distinct_devices_7d", "this customer used ", "device", " in 7 days"),
    )
    add(
        "customer_new_device",
        ["customer", "device"],
        "The customer has not used this device in the last 30 days.",
        raw("c_new_device"),
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
        raw("c_prev_km"),
        wd.population(
            "customer_distance_previous_km", "{v:,.0f} km from this customer's previous payment", "farther", "closer"
        ),
        "no earlier located payment of this customer",
    )
    add(
        "customer_speed_previous_kmh",
        ["customer", "location"],
        "Implied travel speed (km/h) from the previous located payment (at least one minute apart).",
        lambda c: div(c.raw("c_prev_km"), np.maximum(c.raw("c_prev_loc_seconds"), MIN_SPEED_SECONDS) / 3600.0),
        wd.travel_speed("customer_speed_previous_kmh"),
        "no earlier located payment of this customer",
        lambda v, row: 1 if v >= wd.AIRLINER_KMH else 0,
    )
    add(
        "customer_distance_usual_km",
        ["customer", "location"],
        "Distance (km) from the centre of the customer's payments in the last 30 days.",
        usual_distance,
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
                raw(f"{prefix}_count_{w}"),
                wd.count_in_window(f"{entity}_count_{w}", f"at this {entity}", w, f"{entity}_count_30d"),
                reads_as=wd.typical_of_month(f"{entity}_count_{w}", w, f"{entity}_count_30d"),
            )
            add(
                f"{entity}_mean_amount_{w}",
                [entity],
                f"Mean amount at the {entity} in the last {w}.",
                mean_of(prefix, w),
                wd.average_payment(whose, w, f"{entity}_mean_amount_30d"),
                f"no payments at this {entity} in {wd.WINDOW_WORDS[w]}",
                wd.typical_average(w, f"{entity}_mean_amount_30d"),
            )
        add(
            f"amount_to_{entity}_mean_30d",
            [entity],
            f"Amount divided by the {entity}'s 30-day mean amount.",
            amount_to_mean(prefix),
            wd.amount_ratio(whose, f"{entity}_mean_amount_30d"),
            f"no payments at this {entity} in the last 30 days",
        )
        add(
            f"{entity}_mean_amount_1d_to_30d",
            [entity],
            f"The {entity}'s mean amount of the last day divided by its 30-day mean: a shift in what is paid there.",
            mean_shift(prefix),
            wd.shift_of_mean(whose, f"{entity}_mean_amount_1d", f"{entity}_mean_amount_30d"),
            f"no payments at this {entity} in the last day",
        )

    # -- devices ---------------------------------------------------------------------
    for w in ("24h", "7d"):
        add(
            f"device_distinct_customers_{w}",
            ["device"],
            f"Distinct customers who used the device in the last {w}.",
            raw(f"v_distinct_customers_{w}"),
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
                raw(f"{prefix}_matured_payments_{w}"),
                wd.matured_payments(f"{entity}_matured_payments_{w}", entity, w),
                reads_as=wd.typical_of_payments(f"{entity}_matured_payments_{w}"),
            )
            add(
                f"{entity}_matured_fraud_rate_{w}",
                [entity],
                f"Share of the {entity}'s matured payments of {w} (see above) known to be fraud by now.",
                matured_rate(prefix, w),
                wd.matured_rate(entity, w, f"{entity}_matured_payments_{w}"),
                f"no matured payments of this {entity} in {w}",
                risk_when_positive,
            )
        add(
            f"{entity}_known_frauds_7d",
            [entity],
            f"The {entity}'s payments of the last 7 days known to be fraud by now.",
            raw(f"{prefix}_known_frauds_7d"),
            wd.counted(
                f"{entity}_known_frauds_7d",
                "",
                "confirmed fraud",
                f" among this {entity}'s payments of the last 7 days",
            ),
            reads_as=risk_when_positive,
        )
        for w in ("24h", "7d"):
            add(
                f"{entity}_frauds_reported_{w}",
                [entity],
                f"Frauds on the {entity}'s payments reported in the last {w}.",
                raw(f"{prefix}_reports_{w}"),
                wd.counted(
                    f"{entity}_frauds_reported_{w}", "", "fraud", f" on this {entity} reported in {wd.WINDOW_WORDS[w]}"
                ),
                reads_as=risk_when_positive,
            )
        add(
            f"{entity}_days_since_known_fraud",
            [entity],
            f"Days since the {entity}'s latest payment known to be fraud (NaN: none known in "
            f"{RISK_HORIZON_DAYS} days).",
            raw(f"{prefix}_days_since_fraud"),
            wd.days_since_fraud(f"{entity}_days_since_known_fraud", entity, RISK_HORIZON_DAYS),
            f"no known fraud on this {entity} in {RISK_HORIZON_DAYS} days",
            lambda v, row: 1,  # a known fraud (a missing value has no text to contradict)
        )
    return out


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
