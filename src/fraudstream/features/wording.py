"""How people read a feature's value: always against a norm, never a bare number.

Each function here makes the text of one family of features from the value and the
payment's other features (`Row`): the payment against its customer's habits, a shop's
recent days against its month, a count against the training population. A flag reads
as one of two texts, with the share of payments where it holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from fraudstream.features.norms import Row, percent

__all__ = [
    "AIRLINER_KMH",
    "Wording",
    "amount_ratio",
    "average_payment",
    "count",
    "count_in_window",
    "counted",
    "days_since_fraud",
    "duration",
    "flag",
    "largest_payment",
    "matured_payments",
    "matured_rate",
    "population",
    "shift_of_mean",
    "since_previous",
    "spread",
    "sum_in_window",
    "travel_speed",
    "zscore",
]

#: The text of a value, given the payment's features and norms.
Wording = Callable[[float, Row], str]

#: Faster than this between two payments, the card is not travelling with its owner.
AIRLINER_KMH: Final = 1_000.0
WINDOW_WORDS: Final = {
    "1h": "the last hour",
    "24h": "the last 24 hours",
    "1d": "the last day",
    "7d": "the last 7 days",
    "30d": "the last 30 days",
}
SPAN_WORDS: Final = {"1d": "day", "7d": "7 days", "30d": "30 days"}
WINDOW_DAYS: Final = {"1h": 1 / 24, "24h": 1.0, "1d": 1.0, "7d": 7.0, "30d": 30.0}
AVERAGE_SPAN: Final = {
    "1h": "an average hour",
    "24h": "an average day",
    "1d": "an average day",
    "7d": "an average week",
}


def duration(seconds: float) -> str:
    for unit, size in (("d", 86_400.0), ("h", 3_600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def count(n: float, noun: str) -> str:
    """'1 payment', '3 payments'."""
    return f"{n:,.0f} {noun}" + ("" if n == 1 else "s")


def _known(value: float) -> bool:
    return not math.isnan(value)


def population(name: str, template: str, more: str = "more", less: str = "less") -> Wording:
    """`template` ({v}) and how the value stands among training payments."""
    return lambda v, row: template.format(v=v) + row.compare(name, v, more, less)


def counted(name: str, before: str, noun: str, after: str) -> Wording:
    """'this customer paid 7 distinct merchants in 24 hours' and how that stands among payments."""
    return lambda v, row: f"{before}{count(v, noun)}{after}" + row.compare(name, v)


def flag(name: str, when_set: str, when_not: str) -> Wording:
    """One of two texts, with the share of payments in the same case."""

    def text(v: float, row: Row) -> str:
        words = when_set if v else when_not
        share = math.nan if row.norms is None else row.norms.means.get(name, math.nan)
        if _known(share):
            return f"{words}, as {percent(share if v else 1.0 - share)} of payments are"
        return words

    return text


def count_in_window(name: str, where: str, window: str, month: str) -> Wording:
    """'5 payments by this customer in the last hour, against 0.1 in an average hour of
    the last 30 days' (`month`: the 30-day count); the 30-day count against the population."""

    def text(v: float, row: Row) -> str:
        head = f"{count(v, 'payment')} {where} in {WINDOW_WORDS[window]}"
        usual = row[month]
        if window == "30d" or not _known(usual):
            return head + row.compare(name, v)
        return f"{head}, against {usual * WINDOW_DAYS[window] / 30:.1f} in {AVERAGE_SPAN[window]} of the last 30 days"

    return text


def sum_in_window(name: str, whose: str, window: str, month: str) -> Wording:
    """'2,300.00 spent by this customer in the last hour, against 12.50 in an average hour ...'."""

    def text(v: float, row: Row) -> str:
        head = f"{v:,.2f} spent by {whose} in {WINDOW_WORDS[window]}"
        usual = row[month]
        if window == "30d" or not _known(usual):
            return head + row.compare(name, v)
        return f"{head}, against {usual * WINDOW_DAYS[window] / 30:,.2f} in {AVERAGE_SPAN[window]} of the last 30 days"

    return text


def average_payment(whose: str, window: str, month: str) -> Wording:
    """A window's mean amount against the 30-day mean; the 30-day mean against this payment."""

    def text(v: float, row: Row) -> str:
        if window == "30d":
            return f"{whose} average payment over the last 30 days is {v:,.2f}; this one is {row['amount']:,.2f}"
        head = f"{whose} average payment in {WINDOW_WORDS[window]} is {v:,.2f}"
        usual = row[month]
        return f"{head}, against {usual:,.2f} over the last 30 days" if _known(usual) else head

    return text


def spread(whose: str, window: str, month: str, mean: str) -> Wording:
    """How much the customer's amounts vary, against the 30-day spread (or, for 30 days, around its mean)."""

    def text(v: float, row: Row) -> str:
        if window == "30d":
            return (
                f"{whose} amounts vary by {v:,.2f} around {row[mean]:,.2f} over the last 30 days; "
                f"this one is {row['amount']:,.2f}"
            )
        head = f"{whose} amounts vary by {v:,.2f} in {WINDOW_WORDS[window]}"
        usual = row[month]
        return f"{head}, against {usual:,.2f} over the last 30 days" if _known(usual) else head

    return text


def largest_payment(whose: str, window: str) -> Wording:
    return lambda v, row: (
        f"{whose} largest payment in {WINDOW_WORDS[window]} was {v:,.2f}; this one is {row['amount']:,.2f}"
    )


def since_previous(name: str, month: str) -> Wording:
    """Time since the customer's previous payment, against their usual pace over 30 days."""

    def text(v: float, row: Row) -> str:
        head = f"{duration(v)} after this customer's previous payment"
        payments = row[month]
        if _known(payments) and payments > 0:
            return f"{head}; over the last 30 days they paid every {duration(30 * 86_400 / payments)} on average"
        return head + row.compare(name, v, "later", "sooner")

    return text


def amount_ratio(whose: str, mean: str) -> Wording:
    """'amount 590.33 is 12.9× this customer's 30-day average (45.77)'."""
    return lambda v, row: f"amount {row['amount']:,.2f} is {v:.1f}× {whose} 30-day average ({row[mean]:,.2f})"


def zscore(mean: str) -> Wording:
    return lambda v, row: (
        f"amount {row['amount']:,.2f} is {v:+.1f} standard deviations from this customer's 30-day average "
        f"({row[mean]:,.2f})"
    )


def shift_of_mean(whose: str, day: str, month: str) -> Wording:
    """'this terminal's average payment of the last day is 1.8× its 30-day average (43.60 against 24.20)'."""
    return lambda v, row: (
        f"{whose} average payment of the last day is {v:.1f}× its 30-day average ({row[day]:,.2f} against "
        f"{row[month]:,.2f})"
    )


def travel_speed(name: str) -> Wording:
    def text(v: float, row: Row) -> str:
        head = f"implies travelling at {v:,.0f} km/h since the previous payment"
        if v >= AIRLINER_KMH:
            return f"{head}, faster than an airliner"
        return head + row.compare(name, v, "faster", "slower")

    return text


def matured_payments(name: str, entity: str, window: str) -> Wording:
    def text(v: float, row: Row) -> str:
        return (
            f"{count(v, 'payment')} of this {entity} in the {SPAN_WORDS[window]} up to {row.delay_days:.1f} days "
            f"ago, whose fraud labels are mostly in" + row.compare(name, v)
        )

    return text


def matured_rate(entity: str, window: str, payments: str) -> Wording:
    """'this terminal had 4 confirmed frauds among its 31 matured payments in 7 d (12.9%, against 0.7% ...)'."""

    def text(v: float, row: Row) -> str:
        n = row[payments]
        head = f"this {entity} had {count(round(v * n), 'confirmed fraud')} among its {count(n, 'matured payment')}"
        head += f" in {window}"
        base = math.nan if row.norms is None else row.norms.fraud_rate
        if _known(base):
            return f"{head} ({percent(v)}, against {percent(base)} of all payments)"
        return f"{head} ({percent(v)})"

    return text


def days_since_fraud(name: str, entity: str, horizon_days: int) -> Wording:
    def text(v: float, row: Row) -> str:
        head = f"a payment made at this {entity} {duration(v * 86_400)} earlier is confirmed fraud"
        if entity in ("customer", "device"):
            head = f"a payment of this {entity} made {duration(v * 86_400)} earlier is confirmed fraud"
        none = math.nan if row.norms is None else row.norms.missing.get(name, math.nan)
        if _known(none):
            return f"{head}; {percent(none)} of payments have no known fraud on their {entity} in {horizon_days} days"
        return head

    return text
