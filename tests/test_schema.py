from __future__ import annotations

import ipaddress
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from fraudstream.schema import Decision, Label, Outcome, Transaction, json_schemas, received_now


def valid_tx(**overrides: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "transaction_id": "tx-1",
        "timestamp": "2026-03-01T12:00:00Z",
        "customer_id": "C1",
        "amount": 42.5,
        "currency": "EUR",
        "merchant_id": "M1",
        "merchant_category": "grocery",
        "channel": "card_present",
        "terminal_id": "T1",
        "device_id": None,
        "ip": "192.0.2.7",
        "latitude": 48.85,
        "longitude": 2.35,
        "country": "FR",
        "extra": {"V1": -1.5},
    }
    tx.update(overrides)
    return tx


def error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


def test_valid_transaction_is_normalised() -> None:
    tx = Transaction.model_validate(valid_tx(timestamp="2026-03-01T13:00:00+01:00", currency="eur", country="fr"))
    assert tx.timestamp == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert tx.timestamp.tzinfo == UTC
    assert (tx.currency, tx.country) == ("EUR", "FR")
    assert tx.extra == {"V1": -1.5}


def test_optional_fields_may_be_left_out() -> None:
    tx = Transaction.model_validate(
        {
            k: v
            for k, v in valid_tx().items()
            if k not in {"terminal_id", "ip", "latitude", "longitude", "country", "extra"}
        }
    )
    assert tx.latitude is None and tx.terminal_id is None and tx.extra == {}


def test_epoch_seconds_are_utc() -> None:
    epoch = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    assert Transaction.model_validate(valid_tx(timestamp=epoch)).timestamp == datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", -1, "greater than or equal to 0"),
        ("amount", float("nan"), "finite"),
        ("amount", float("inf"), "finite"),
        ("amount", "lots", "valid number"),
        ("currency", "EURO", "at most 3"),
        ("currency", "XYZ", "ISO 4217"),
        ("country", "XX", "ISO 3166"),
        ("latitude", 91, "less than or equal to 90"),
        ("longitude", -181, "greater than or equal to -180"),
        ("timestamp", "2026-03-01T12:00:00", "timezone"),
        ("timestamp", "yesterday", "datetime"),
        ("transaction_id", "", "at least 1"),
        ("transaction_id", "x" * 129, "at most 128"),
        ("customer_id", "bad\nid", "control character"),
        ("channel", "telepathy", "card_present"),
        ("ip", "999.1.1.1", "IPv4 or IPv6"),
        ("extra", {"V1": float("nan")}, "finite"),
        ("extra", {"V1": "high"}, "valid number"),
    ],
)
def test_invalid_field_is_named(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Transaction.model_validate(valid_tx(**{field: value}))
    assert field in {loc.split(".")[0] for loc in error_fields(info.value)}
    assert message in str(info.value)


@pytest.mark.parametrize("field", ["transaction_id", "timestamp", "customer_id", "amount", "currency", "merchant_id"])
def test_required_field_missing(field: str) -> None:
    tx = valid_tx()
    del tx[field]
    with pytest.raises(ValidationError) as info:
        Transaction.model_validate(tx)
    assert field in error_fields(info.value)


def test_unknown_top_level_field_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        Transaction.model_validate(valid_tx(V1=0.3))
    assert "V1" in error_fields(info.value)
    assert "Extra inputs are not permitted" in str(info.value)


def test_latitude_needs_longitude() -> None:
    with pytest.raises(ValidationError, match="longitude is missing"):
        Transaction.model_validate(valid_tx(longitude=None))


def test_ids_are_stripped_and_bounded() -> None:
    assert Transaction.model_validate(valid_tx(customer_id="  C9 ")).customer_id == "C9"


def test_label_and_decision_round_trip() -> None:
    label = Label(transaction_id="tx-1", is_fraud=True, reported_at=datetime(2026, 3, 8, tzinfo=UTC))
    assert Label.model_validate_json(label.model_dump_json()) == label
    decision = Decision.model_validate(
        {
            "transaction_id": "tx-1",
            "customer_id": "C1",
            "score": 0.93,
            "outcome": "decline",
            "reasons": [
                {
                    "feature": "amount_to_mean_30d",
                    "value": 8.2,
                    "contribution": 2.1,
                    "text": "amount is 8.2x",
                }
            ],
            "model_version": "m1",
            "decided_at": "2026-03-01T12:00:00.004Z",
            "timings": {"features_ms": 0.1, "model_ms": 0.2, "total_ms": 0.4},
        }
    )
    assert decision.outcome is Outcome.DECLINE
    assert Decision.model_validate_json(decision.model_dump_json()) == decision
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        Decision.model_validate({**decision.model_dump(), "score": 1.5})


def test_json_schemas() -> None:
    schemas = json_schemas()
    assert set(schemas) == {"transaction", "label", "decision"}
    assert "amount" in schemas["transaction"]["required"]
    json.dumps(schemas)
    with pytest.raises(KeyError, match="unknown schema"):
        json_schemas(["nope"])


def _ip_as_ipaddress_reads_it(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


_OCTET = st.one_of(
    st.integers(0, 300).map(str),
    st.integers(0, 99).map(lambda n: f"0{n}"),  # leading zeros: not canonical
    st.sampled_from(["", "-1", "1a", "١", " 1", "+1"]),
)


@given(st.lists(_OCTET, min_size=3, max_size=5).map(".".join))
def test_ip_addresses_read_as_ipaddress_reads_them(text: str) -> None:
    expected = _ip_as_ipaddress_reads_it(text)
    try:
        got: str | None = Transaction.model_validate(valid_tx(ip=text)).ip
    except ValidationError:
        got = None
    assert got == expected


@pytest.mark.parametrize("text", ["2001:DB8::1", "::ffff:192.0.2.1", "192.0.2.255", "0.0.0.0"])
def test_ip_addresses_are_stored_in_canonical_form(text: str) -> None:
    assert Transaction.model_validate(valid_tx(ip=text)).ip == str(ipaddress.ip_address(text))


RECEIVED_NOW = received_now(timedelta(hours=24))


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        ("9999-12-31T23:59:59-01:00", "beyond the years"),  # raised OverflowError, which stopped a worker
        ("0001-01-01T00:00:00+01:00", "beyond the years"),
        ("1999-12-31T23:59:59Z", "before 2000-01-01"),
        ("0999-06-01T00:00:00Z", "before 2000-01-01"),  # SQLite could not read such a year back
    ],
)
def test_timestamps_outside_what_can_be_held_are_refused(timestamp: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as exc:
        Transaction.model_validate_json(json.dumps(valid_tx(timestamp=timestamp)))
    assert error_fields(exc.value) == {"timestamp"}
    with pytest.raises(ValidationError, match=message):
        Label.model_validate({"transaction_id": "t", "is_fraud": True, "reported_at": timestamp})


def test_times_ahead_of_the_clock_are_refused_on_the_wire() -> None:
    ahead = (datetime.now(UTC) + timedelta(hours=30)).isoformat()
    with pytest.raises(ValidationError, match="later than the clock allows"):
        Transaction.model_validate_json(json.dumps(valid_tx(timestamp=ahead)), context=RECEIVED_NOW)
    with pytest.raises(ValidationError, match="later than the clock allows"):
        Label.model_validate({"transaction_id": "t", "is_fraud": True, "reported_at": ahead}, context=RECEIVED_NOW)
    soon = (datetime.now(UTC) + timedelta(hours=20)).isoformat()
    assert Transaction.model_validate_json(json.dumps(valid_tx(timestamp=soon)), context=RECEIVED_NOW)
    assert Transaction.model_validate_json(json.dumps(valid_tx(timestamp=ahead)))  # a history, not the wire


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "12.5"),
        ("amount", True),
        ("latitude", "48.85"),
        ("extra", {"a": "1.5"}),
        ("extra", {"a": True}),
    ],
)
def test_numbers_are_json_numbers(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        Transaction.model_validate_json(json.dumps(valid_tx(**{field: value})))
    assert error_fields(exc.value) <= {field, f"{field}.a"}


def test_non_finite_numbers_are_refused() -> None:
    for raw in ("NaN", "Infinity", "-Infinity", "1e309"):
        body = json.dumps(valid_tx(amount=0)).replace('"amount": 0', f'"amount": {raw}')
        with pytest.raises(ValidationError) as exc:
            Transaction.model_validate_json(body)
        assert error_fields(exc.value) == {"amount"}
    assert Transaction.model_validate_json(json.dumps(valid_tx(amount=12))).amount == 12.0


def test_label_truth_is_a_json_boolean() -> None:
    for value in ("yes", 1, "true"):
        with pytest.raises(ValidationError):
            Label.model_validate_json(
                json.dumps({"transaction_id": "t", "is_fraud": value, "reported_at": "2026-01-01T00:00:00Z"})
            )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("C42\u200b", "U+200B"),  # zero-width space: another customer, dodging velocity features
        ("C42\u202e", "U+202E"),  # right-to-left override
        ("C\u000042", "control character"),
        ("C\u008542", "U+0085"),
        ("a/b", "'/'"),
    ],
)
def test_ids_refuse_hidden_characters_and_slashes(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)) as exc:
        Transaction.model_validate(valid_tx(customer_id=value))
    assert error_fields(exc.value) == {"customer_id"}


def test_ids_and_names_are_normalised_and_names_refuse_nul() -> None:
    decomposed = Transaction.model_validate(valid_tx(customer_id="Cafe\u0301", merchant_category="cafe\u0301"))
    assert decomposed.customer_id == "Caf\u00e9" and decomposed.merchant_category == "caf\u00e9"
    with pytest.raises(ValidationError, match="control character"):
        Transaction.model_validate(valid_tx(merchant_category="gro\x00cery"))
    with pytest.raises(ValidationError, match="control character"):
        Label.model_validate(
            {"transaction_id": "t", "is_fraud": True, "reported_at": "2026-01-01T00:00:00Z", "source": "a\x00"}
        )
