"""How people read a feature's value: always against a norm, never a bare number.

Each function here makes the text of one family of features from the value and the
payment's other features (`Row`): the payment against its customer's habits, a shop's
recent days against its month, a count against the training population. A flag reads
as one of two texts, with the share of payments where it holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from fraudstream.features.norms import Row, percent

__all__ = [
    "AIRLINER_KMH",
    "Flag",
    "ReadsAs",
    "Wording",
    "amount_ratio",
    "average_payment",
    "count",
    "count_in_window",
    "counted",
    "days_since_fraud",
    "distance_from_usual",
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
    "typical_average",
    "typical_of_month",
    "typical_of_payments",
    "zscore",
]

#: The text of a value, given the payment's features and norms.
Wording = Callable[[float, Row], str]
#: Whether a value reads as risk (+1), as reassurance (-1) or neither (0).
ReadsAs = Callable[[float, Row], int]

#: Faster than this between two payments, the card is not travelling with its owner.
AIRLINER_KMH: Final = 1_000.0
#: Payments in 30 days from which a customer's "usual" pace or place is spoken of.
ENOUGH_FOR_A_HABIT: Final = 3
#: A figure within this factor of its norm is usual.
USUAL_SPREAD: Final = 1.25
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


def _usual(ratio: float) -> bool:
    """A figure within a fifth of its norm is what the entity usually does."""
    return 1 / USUAL_SPREAD <= ratio <= USUAL_SPREAD


def typical_of_payments(name: str) -> ReadsAs:
    """A value in the usual range of payments reads as reassurance: no reason for a flag."""
    return lambda v, row: -1 if row.norms is not None and row.norms.typical(name, v) else 0


def typical_of_month(name: str, window: str, month: str) -> ReadsAs:
    """A window's figure near the entity's own month (scaled to the window), or a 30-day
    figure in the usual range of payments, reads as reassurance."""

    def reads_as(v: float, row: Row) -> int:
        if window == "30d":
            return typical_of_payments(name)(v, row)
        usual = row[month] * WINDOW_DAYS[window] / 30
        return -1 if _known(usual) and usual > 0 and _usual(v / usual) else 0

    return reads_as


def typical_average(window: str, month: str) -> ReadsAs:
    """A window's mean near the month's, or the month's near this payment, reads as reassurance."""

    def reads_as(v: float, row: Row) -> int:
        other = row["amount"] if window == "30d" else row[month]
        return -1 if _known(other) and other > 0 and v > 0 and _usual(v / other) else 0

    return reads_as


def population(name: str, template: str, more: str = "more", less: str = "less") -> Wording:
    """`template` ({v}) and how the value stands among training payments."""
    return lambda v, row: template.format(v=v) + row.compare(name, v, more, less)


def counted(name: str, before: str, noun: str, after: str) -> Wording:
    """'this customer paid 7 distinct merchants in 24 hours' and how that stands among
    payments; 'no frauds on this terminal reported ...' for none."""

    def text(v: float, row: Row) -> str:
        if v == 0:
            return f"{before}no {noun}s{after}"
        return f"{before}{count(v, noun)}{after}" + row.compare(name, v)

    return text


@dataclass(frozen=True)
class Flag:
    """A yes/no feature's wording: one of two texts, with the share of payments in the same case."""

    name: str
    when_set: str
    when_not: str

    def __call__(self, v: float, row: Row) -> str:
        words = self.when_set if v else self.when_not
        share = math.nan if row.norms is None else row.norms.means.get(self.name, math.nan)
        if _known(share):
            return f"{words}, like {percent(share if v else 1.0 - share)} of payments"
        return words


def flag(name: str, when_set: str, when_not: str) -> Wording:
    return Flag(name, when_set, when_not)


def _against_month(name: str, head: Callable[[float], str], window: str, month: str, digits: str) -> Wording:
    """`head`, against the entity's 30-day figure (`month`) scaled to the window; a 30-day
    figure against the population."""

    def text(v: float, row: Row) -> str:
        usual = row[month]
        if window == "30d" or not _known(usual):
            return head(v) + row.compare(name, v)
        scaled = format(usual * WINDOW_DAYS[window] / 30, digits)
        return f"{head(v)}, against {scaled} in {AVERAGE_SPAN[window]} of the last 30 days"

    return text


def count_in_window(name: str, where: str, window: str, month: str) -> Wording:
    """'5 payments by this customer in the last hour, against 0.1 in an average hour of the last 30 days'."""
    words = WINDOW_WORDS[window]
    described = _against_month(name, lambda v: f"{count(v, 'payment')} {where} in {words}", window, month, ".1f")
    # None reads as the missing values of the means and ratios it leaves undefined (one reason, not two).
    return lambda v, row: f"no payments {where} in {words}" if v == 0 else described(v, row)


def sum_in_window(name: str, whose: str, window: str, month: str) -> Wording:
    """'2,300.00 spent by this customer in the last hour, against 12.50 in an average hour ...'."""
    words = WINDOW_WORDS[window]
    return _against_month(name, lambda v: f"{v:,.2f} spent by {whose} in {words}", window, month, ",.2f")


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
    """The standard deviation of the customer's amounts, against the 30-day one (for 30 days: with its mean)."""

    def text(v: float, row: Row) -> str:
        if window == "30d":
            return (
                f"{whose} amounts over the last 30 days average {row[mean]:,.2f} with a standard deviation of "
                f"{v:,.2f}; this one is {row['amount']:,.2f}"
            )
        head = f"{whose} amounts in {WINDOW_WORDS[window]} have a standard deviation of {v:,.2f}"
        usual = row[month]
        return f"{head}, against {usual:,.2f} over the last 30 days" if _known(usual) else head

    return text


def largest_payment(whose: str, window: str) -> Wording:
    return lambda v, row: (
        f"{whose} largest payment in {WINDOW_WORDS[window]} was {v:,.2f}; this one is {row['amount']:,.2f}"
    )


def since_previous(name: str, month: str) -> Wording:
    """Time since the customer's previous payment, against their usual pace over 30 days
    (where they have paid often enough for one)."""

    def text(v: float, row: Row) -> str:
        head = f"{duration(v)} after this customer's previous payment"
        payments = row[month]
        if _known(payments) and payments >= ENOUGH_FOR_A_HABIT:
            return f"{head}; over the last 30 days they paid every {duration(30 * 86_400 / payments)} on average"
        return head + row.compare(name, v, "later", "sooner")

    return text


def amount_ratio(whose: str, mean: str) -> Wording:
    """'amount 590.33 is 12.9× this customer's 30-day average (45.77)'."""
    return lambda v, row: f"amount {row['amount']:,.2f} is {v:.1f}× {whose} 30-day average ({row[mean]:,.2f})"


def zscore(mean: str) -> Wording:
    return lambda v, row: (
        f"amount {row['amount']:,.2f} is {abs(v):.1f} standard deviations {'above' if v >= 0 else 'below'} "
        f"this customer's 30-day average ({row[mean]:,.2f})"
    )


def distance_from_usual(name: str, payments: str) -> Wording:
    """'5,843 km from where this customer usually pays': 'usually' only where they have
    paid often enough for a habit."""

    def text(v: float, row: Row) -> str:
        n = row[payments]
        where = "usually pays (30 days)" if _known(n) and n >= ENOUGH_FOR_A_HABIT else "paid in the last 30 days"
        return f"{v:,.0f} km from where this customer {where}" + row.compare(name, v, "farther", "closer")

    return text


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
        span = "on the day" if window == "1d" else f"in the {SPAN_WORDS[window]} up to"
        return (
            f"{count(v, 'payment')} of this {entity} {span} {row.delay_days:.0f} days ago "
            "(old enough for their fraud reports to be in)" + row.compare(name, v)
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
            return f"{head}; for {percent(none)} of payments none is known on their {entity} in {horizon_days} days"
        return head

    return text
