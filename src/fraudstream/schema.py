"""Wire formats: the only shapes that enter or leave fraudstream.

Every entry point (HTTP, Kafka, file replay) validates with these models, so a bad
field gets the same message wherever it comes from.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Final

import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

__all__ = [
    "EARLIEST",
    "ECHOED",
    "SCHEMA_VERSION",
    "Channel",
    "Decision",
    "Id",
    "Label",
    "Name",
    "Outcome",
    "Reason",
    "RuleHit",
    "Text",
    "Timings",
    "Transaction",
    "json_schemas",
    "received_now",
    "shortened",
]

#: Bumped whenever a wire format changes incompatibly; model artifacts record it.
SCHEMA_VERSION: Final = 1

MAX_AMOUNT: Final = 1e12
MAX_EXTRA_FIELDS: Final = 256
#: No payment or label is older: what a store and the feature state can hold and order.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
#: Validation context key: the latest time a payment or label received now may carry.
LATEST: Final = "latest"


def received_now(max_future: timedelta) -> dict[str, datetime]:
    """The validation context for what arrives now over the wire: times may run ahead of
    the clock by `max_future` (clock skew), no further. A payment dated far ahead would
    claim the feature state's buckets of the future and make every real one after it late."""
    return {LATEST: datetime.now(UTC) + max_future}


@cache
def _currencies() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


@cache
def _countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def _iso4217(code: str) -> str:
    code = code.upper()
    if code not in _currencies():
        raise ValueError("is not an ISO 4217 currency code (e.g. USD, EUR)")
    return code


def _iso3166(code: str) -> str:
    code = code.upper()
    if code not in _countries():
        raise ValueError("is not an ISO 3166-1 alpha-2 country code (e.g. US, DE)")
    return code


# Dotted-decimal IPv4 already in its canonical form (no leading zeros), as most are: it
# stands as it is, without ipaddress's parse (much of a transaction's validation).
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # [0-9]: \d matches other scripts' digits too
_CANONICAL_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


def _ip(value: str) -> str:
    if _CANONICAL_IPV4.fullmatch(value):
        return value
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("is not an IPv4 or IPv6 address") from None


def _utc(value: datetime, info: ValidationInfo) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is beyond the years a timestamp can hold") from None
    if value < EARLIEST:
        raise ValueError(f"is before {EARLIEST:%Y-%m-%d}")
    latest = info.context.get(LATEST) if isinstance(info.context, dict) else None
    if latest is not None and value > latest:
        raise ValueError("is later than the clock allows (the accepted skew is FRAUDSTREAM_MAX_FUTURE_HOURS)")
    return value


# Characters no id or name may hold: control, format (zero-width, bidi), surrogate,
# private-use and line/paragraph separators. They break logs, CSV and HTML, and make
# "C42" and "C42\u200b" two customers, which dodges the customer's velocity features.
_HIDDEN: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
#: The most of a value a client sent that an error repeats: card and personal data must not be reflected.
ECHOED: Final = 40


def shortened(value: str) -> str:
    """`value` as an error may repeat it: cut short."""
    return value if len(value) <= ECHOED else f"{value[:ECHOED]}..."


_ASCII_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def _visible(value: str) -> str:
    """`value` in Unicode NFC, refused if it holds a hidden character."""
    if value.isascii():
        if _ASCII_CONTROL.search(value):
            raise ValueError("holds a control character")
        return value
    value = unicodedata.normalize("NFC", value)
    hidden = next((c for c in value if unicodedata.category(c) in _HIDDEN), None)
    if hidden is not None:
        raise ValueError(f"holds an invisible or control character (U+{ord(hidden):04X})")
    return value


def _text(value: str) -> str:
    """Free text (an analyst's note): lines and tabs, but no other hidden character."""
    _visible(value.replace("\n", " ").replace("\r", " ").replace("\t", " "))
    return unicodedata.normalize("NFC", value)


def _id(value: str) -> str:
    value = _visible(value)
    if "/" in value:
        raise ValueError("holds '/', which no id may (it could not be read back by URL)")
    return value


# Ids are opaque, but the same id must mean the same entity and read back by URL.
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128), AfterValidator(_id)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(_visible)]
Text = Annotated[str, StringConstraints(max_length=2_000), AfterValidator(_text)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
Currency = Annotated[str, StringConstraints(min_length=3, max_length=3), AfterValidator(_iso4217)]
Country = Annotated[str, StringConstraints(min_length=2, max_length=2), AfterValidator(_iso3166)]
IpAddress = Annotated[str, StringConstraints(max_length=45), AfterValidator(_ip)]
# Strict: a number is a JSON number, not "12.5" or true (both were scored as amounts).
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Channel(StrEnum):
    """How the payment was made."""

    CARD_PRESENT = "card_present"
    ONLINE = "online"
    MOBILE = "mobile"
    ATM = "atm"
    MOTO = "moto"  # mail / telephone order


class Outcome(StrEnum):
    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transaction(_Wire):
    """A payment to be scored.

    >>> tx = Transaction(transaction_id="t1", timestamp="2026-01-05T10:00:00+01:00",
    ...                  customer_id="c1", amount=12.5, currency="eur", merchant_id="m1",
    ...                  merchant_category="grocery", channel="card_present")
    >>> tx.timestamp.isoformat(), tx.currency
    ('2026-01-05T09:00:00+00:00', 'EUR')
    """

    transaction_id: Id
    timestamp: UtcDatetime = Field(description="When the payment happened; must carry a timezone.")
    customer_id: Id = Field(description="The paying customer or card; Kafka key.")
    amount: Annotated[float, Field(strict=True, ge=0.0, le=MAX_AMOUNT, allow_inf_nan=False)]
    currency: Currency
    merchant_id: Id
    merchant_category: Name
    channel: Channel
    terminal_id: Id | None = None
    device_id: Id | None = None
    ip: IpAddress | None = None
    latitude: Annotated[float, Field(strict=True, ge=-90.0, le=90.0, allow_inf_nan=False)] | None = None
    longitude: Annotated[float, Field(strict=True, ge=-180.0, le=180.0, allow_inf_nan=False)] | None = None
    country: Country | None = None
    extra: dict[Name, FiniteFloat] = Field(
        default_factory=dict,
        max_length=MAX_EXTRA_FIELDS,
        description="Numeric fields a data source brings that have no name here (e.g. V1..V28).",
    )

    @model_validator(mode="after")
    def _location_pairs(self) -> Transaction:
        if (self.latitude is None) != (self.longitude is None):
            missing = "longitude" if self.longitude is None else "latitude"
            raise ValueError(f"latitude and longitude come together: {missing} is missing")
        return self


class Label(_Wire):
    """Ground truth for a transaction, known only from `reported_at` on (chargeback, analyst)."""

    transaction_id: Id
    is_fraud: StrictBool
    reported_at: UtcDatetime
    scenario: Name | None = Field(default=None, description="Fraud pattern, where known.")
    source: Name | None = Field(default=None, description="Who reported it: chargeback, analyst, ...")


@dataclass(slots=True)
class Reason:
    """One feature's push on the score (log-odds contribution), rendered for people.

    A plain dataclass rather than a model: every decision carries a few, and building
    pydantic models cost more than scoring. Pydantic validates and serialises it as
    part of `Decision` all the same. Not frozen: a frozen dataclass sets each field
    through `object.__setattr__`, which makes building one several times slower.
    """

    feature: str
    value: float | None
    contribution: float
    text: str


@dataclass(slots=True)
class RuleHit:
    """A rule (or list) that fired on a decision: live ones shaped the outcome, shadow ones did not."""

    id: str
    action: str  # allow | review | block | score_add
    mode: str  # live | shadow


class Timings(_Wire):
    features_ms: float = Field(ge=0.0)
    model_ms: float = Field(ge=0.0)
    total_ms: float = Field(ge=0.0)


class Decision(_Wire):
    transaction_id: Id
    customer_id: Id
    score: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    outcome: Outcome
    reasons: list[Reason] = Field(default_factory=list)
    rules: list[RuleHit] = Field(default_factory=list, description="Rules and lists that fired.")
    ruleset_version: int | None = Field(default=None, description="The ruleset in force, if any.")
    model_version: str
    decided_at: UtcDatetime
    timings: Timings


_MODELS: Final[dict[str, type[BaseModel]]] = {
    "transaction": Transaction,
    "label": Label,
    "decision": Decision,
}


def json_schemas(names: list[str] | None = None) -> dict[str, Any]:
    """JSON Schema of the named wire formats (all of them by default)."""
    wanted = names or list(_MODELS)
    unknown = sorted(set(wanted) - set(_MODELS))
    if unknown:
        raise KeyError(f"unknown schema {', '.join(unknown)}; choose from {', '.join(_MODELS)}")
    return {name: _MODELS[name].model_json_schema() for name in wanted}
