"""The HTTP API, through a real app over a real (SQLite) store and a trained model."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from fraudstream.api import create_app
from fraudstream.config import Settings
from fraudstream.model.artifact import Model
from fraudstream.model.thresholds import Thresholds
from fraudstream.runtime import COLLECTOR_THRESHOLDS, Runtime, build_runtime

# Recent, so that the customer's features "as of now" still see these payments.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def tx(i: int, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "transaction_id": f"api-{i}",
        "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
        "customer_id": "C-api",
        "amount": 25.0 + i,
        "currency": "EUR",
        "merchant_id": "M-api",
        "merchant_category": "grocery",
        "channel": "card_present",
        "terminal_id": "T-api",
        "latitude": 48.85,
        "longitude": 2.35,
        "country": "FR",
    }
    payload.update(changes)
    return payload


@pytest.fixture
def runtime(trained_model: Model, tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(home=tmp_path, max_batch=50, max_body_bytes=64_000)
    runtime = build_runtime(settings, model=trained_model)
    runtime.start()
    yield runtime
    runtime.stop()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as client:
        yield client


def test_a_running_runtime_collects_less_often_and_gives_the_collector_back(
    trained_model: Model, tmp_path: Path
) -> None:
    before = gc.get_threshold()
    runtime = build_runtime(Settings(home=tmp_path), model=trained_model)
    runtime.start()
    try:
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS != before
    finally:
        runtime.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_score_one_and_get_it_back(client: TestClient) -> None:
    response = client.post("/v1/score", json=tx(1))
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["transaction_id"] == "api-1" and 0 <= decision["score"] <= 1
    assert decision["outcome"] in {"approve", "review", "decline"}
    assert decision["model_version"].startswith("session-")
    assert len(decision["reasons"]) >= 1 and all(r["text"] for r in decision["reasons"])
    assert set(decision["timings"]) == {"features_ms", "model_ms", "total_ms"}
    again = client.post("/v1/score", json=tx(1)).json()
    assert again == decision  # idempotent: the stored decision comes back
    stored = client.get("/v1/transactions/api-1").json()
    assert stored["decision"] == decision and stored["transaction"]["amount"] == 26.0
    assert client.get("/v1/transactions/nope").status_code == 404


def test_score_a_batch_in_order(client: TestClient) -> None:
    response = client.post("/v1/score", json=[tx(i) for i in range(10)] + [tx(3)])
    assert response.status_code == 200
    ids = [d["transaction_id"] for d in response.json()]
    assert ids == [f"api-{i}" for i in range(10)] + ["api-3"]
    assert response.json()[3] == response.json()[10]


def test_ids_are_read_back_in_any_unicode_form(client: TestClient) -> None:
    composed, decomposed = "caf\u00e9-1", "cafe\u0301-1"
    assert client.post("/v1/score", json=tx(1, transaction_id=decomposed)).json()["transaction_id"] == composed
    for form in (composed, decomposed):
        assert client.get(f"/v1/transactions/{form}").status_code == 200
    assert client.get("/v1/transactions/cafe\u200b-1").status_code == 422  # no id holds an invisible character


def test_an_id_sent_again_with_another_payload_gets_409(client: TestClient, runtime: Runtime) -> None:
    first = client.post("/v1/score", json=tx(1)).json()
    # The same payment with its time at another offset is the same payload: a replay.
    same = tx(1, timestamp=(T0 + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=2))).isoformat())
    assert client.post("/v1/score", json=same).json() == first
    changed = client.post("/v1/score", json=tx(1, amount=9_999.0))
    assert changed.status_code == 409
    assert changed.json()["detail"] == [
        {
            "loc": ["body", "transaction_id"],
            "msg": "this id was decided with another payload",
            "type": "conflicting_duplicate",
        }
    ]
    assert "9999" not in changed.text and "api-1" not in changed.text
    # In a batch: the conflicting ones are named by position, the rest decided.
    batch = client.post("/v1/score", json=[tx(2), tx(1, customer_id="C-other"), tx(3), tx(3, amount=1.0), tx(3)])
    assert batch.status_code == 409
    assert [d["loc"] for d in batch.json()["detail"]] == [
        ["body", 1, "transaction_id"],
        ["body", 3, "transaction_id"],
        ["body"],
    ]
    assert [d["msg"] for d in batch.json()["detail"]][:2] == [
        "this id was decided with another payload",
        "this id comes earlier in the request with another payload",
    ]
    stored = runtime.service.store.transactions_for(["api-1", "api-2", "api-3"])
    assert stored["api-1"].amount == 26.0 and stored["api-1"].customer_id == "C-api"
    assert stored["api-3"].amount == 28.0 and "api-2" in stored
    again = client.post("/v1/score", json=[tx(2), tx(3)])
    assert again.status_code == 200
    metrics = client.get("/metrics").text
    assert 'fraudstream_conflicting_duplicates_total{path="api"} 3.0' in metrics


def test_bad_payloads_get_422_naming_the_field(client: TestClient) -> None:
    one = client.post("/v1/score", json=tx(1, amount=-5))
    assert one.status_code == 422
    assert one.json()["detail"][0]["loc"] == ["body", "amount"]
    many = client.post("/v1/score", json=[tx(1), tx(2, currency="EURO"), tx(3, extra_field=1)])
    assert many.status_code == 422
    locs = [e["loc"] for e in many.json()["detail"]]
    assert ["body", 1, "currency"] in locs and ["body", 2, "extra_field"] in locs
    assert (
        client.post("/v1/score", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    )
    assert client.get("/v1/decisions").json()["items"] == []  # nothing half-written


def raw(client: TestClient, path: str, body: bytes) -> Any:
    return client.post(path, content=body, headers={"content-type": "application/json"})


def test_inputs_that_can_never_be_decided_get_422_not_500(client: TestClient) -> None:
    good = json.dumps(tx(1))
    bad_bodies = {
        "amount": [good.replace('"amount": 26.0', f'"amount": {n}') for n in ("NaN", "Infinity", "1e309")],
        "timestamp": [
            json.dumps(tx(1, timestamp=t)) for t in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00")
        ],
        "customer_id": [json.dumps(tx(1, customer_id="C\u200b")), json.dumps(tx(1, customer_id="a/b"))],
        "merchant_category": [json.dumps(tx(1, merchant_category="gro\u0000cery"))],
    }
    for field, bodies in bad_bodies.items():
        for body in bodies:
            response = raw(client, "/v1/score", body.encode())
            assert response.status_code == 422, body
            assert response.json()["detail"][0]["loc"] == ["body", field]
    assert raw(client, "/v1/score", b"\xff\xfe\xfd").status_code == 422  # not UTF-8
    assert raw(client, "/v1/labels", b"\xff\xfe\xfd").status_code == 422
    # One bad transaction among good ones: 422 for the request, naming it; nothing decided.
    batch = raw(client, "/v1/score", f"[{good}, {bad_bodies['amount'][0]}]".encode())
    assert batch.status_code == 422 and batch.json()["detail"][0]["loc"] == ["body", 1, "amount"]
    assert client.get("/v1/decisions").json()["items"] == []
    assert client.get("/v1/reviews/queue", params={"cursor": "null"}).status_code == 422
    assert client.post("/v1/score", json=tx(2)).status_code == 200  # the connection still serves


def test_errors_never_echo_what_was_sent(client: TestClient) -> None:
    huge = "x" * 40_000
    response = client.post("/v1/score", json=tx(1, customer_id=huge))
    assert response.status_code == 422 and len(response.content) < 1_000
    assert "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" not in response.text
    too_long = client.get(f"/v1/transactions/{'y' * 2_000}")
    assert too_long.status_code == 422 and "y" * 41 not in too_long.text
    # Validators name the problem, not the value; made-up field names are cut short.
    for field, value in (("currency", "ZZQ"), ("country", "QQ"), ("ip", "<script>")):
        answer = client.post("/v1/score", json=tx(1, **{field: value}))
        assert answer.status_code == 422 and value not in answer.text, field
    made_up = client.post("/v1/score", json=tx(1, extra={"K" * 5_000 + "\u0000": 1.0}))
    assert made_up.status_code == 422 and "K" * 41 not in made_up.text and "\\u0000" not in made_up.text
    many = client.post("/v1/score", json=tx(1, **{f"unknown_{i}": 1 for i in range(500)}))
    assert many.status_code == 422 and len(many.json()["detail"]) == 51
    assert many.json()["detail"][-1] == {"loc": ["body"], "msg": "and 450 more errors", "type": "too_many_errors"}
    missing = client.post(
        "/v1/labels", json={"transaction_id": "z" * 100, "is_fraud": True, "reported_at": T0.isoformat()}
    )
    assert missing.status_code == 404 and "z" * 41 not in missing.text


def test_labels_are_bounded_and_never_before_their_payment(client: TestClient) -> None:
    client.post("/v1/score", json=[tx(1), tx(2)]).raise_for_status()
    before = {"transaction_id": "api-2", "is_fraud": True, "reported_at": T0.isoformat()}  # api-2 is T0 + 2 min
    after = {**before, "transaction_id": "api-1", "reported_at": (T0 + timedelta(hours=1)).isoformat()}
    response = client.post("/v1/labels", json=[after, before])
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", 1, "reported_at"]
    assert client.get("/v1/transactions/api-1").json()["labels"] == []  # all or nothing
    assert client.post("/v1/labels", json=[after] * 51).status_code == 413
    wrong = client.post("/v1/labels", json=[{**after, "is_fraud": "true"}])
    assert [e["loc"] for e in wrong.json()["detail"]] == [["body", 0, "is_fraud"]]  # the item, not a type's name
    for value in ("yes", 1):
        assert client.post("/v1/labels", json={**after, "is_fraud": value}).status_code == 422
    ahead = {**after, "reported_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}
    assert client.post("/v1/labels", json=ahead).status_code == 422
    assert client.post("/v1/labels", json=after).status_code == 201


def test_metrics_labels_are_a_bounded_set(client: TestClient) -> None:
    client.post("/v1/score", json=[tx(1), tx(2)]).raise_for_status()
    when = (T0 + timedelta(hours=1)).isoformat()
    labels = [
        {"transaction_id": "api-1", "is_fraud": True, "reported_at": when, "source": f"source-{i}"} for i in range(20)
    ]
    labels.append({"transaction_id": "api-2", "is_fraud": True, "reported_at": when, "source": "chargeback"})
    assert client.post("/v1/labels", json=labels).status_code == 201
    metrics = client.get("/metrics").text
    counted = [line for line in metrics.splitlines() if line.startswith("fraudstream_labels_total{")]
    assert sorted(counted) == [
        'fraudstream_labels_total{is_fraud="true",source="chargeback"} 1.0',
        'fraudstream_labels_total{is_fraud="true",source="other"} 20.0',
    ]


def test_bodies_that_are_not_declared_json_get_415(client: TestClient) -> None:
    body = json.dumps(tx(1)).encode()
    review = json.dumps({"transaction_id": "api-1", "verdict": "fraud"}).encode()
    for path, content in (("/v1/score", body), ("/v1/labels", body), ("/v1/reviews", review)):
        for media in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
            headers = {} if media is None else {"content-type": media}
            assert client.post(path, content=content, headers=headers).status_code == 415, (path, media)
    assert raw(client, "/v1/score", body).status_code == 200
    with_charset = client.post("/v1/score", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert with_charset.status_code == 200
    assert client.get("/v1/decisions").status_code == 200  # reads carry no body


def test_oversized_requests_get_413(client: TestClient) -> None:
    assert client.post("/v1/score", json=[tx(i) for i in range(51)]).status_code == 413
    big = tx(1, merchant_category="x" * 64, extra={f"f{i}": float(i) for i in range(256)})
    declared = client.post("/v1/score", json=[big] * 40)  # > max_body_bytes, with its length
    streamed = client.post(  # the same, streamed without one
        "/v1/score",
        content=iter([json.dumps([big] * 40).encode()]),
        headers={"Content-Type": "application/json"},
    )
    for answer in (declared, streamed):
        assert answer.status_code == 413 and "64,000 bytes" in answer.json()["detail"]
        assert answer.headers["X-Frame-Options"] == "DENY"  # answered like every other error
    assert client.get("/v1/decisions").json()["items"] == []


def test_decisions_filter_and_paginate(client: TestClient) -> None:
    client.post("/v1/score", json=[tx(i, customer_id=f"C{i % 2}") for i in range(12)])
    first = client.get("/v1/decisions", params={"limit": 5}).json()
    assert len(first["items"]) == 5 and first["next_cursor"]
    rest = client.get("/v1/decisions", params={"limit": 50, "cursor": first["next_cursor"]}).json()
    assert len(rest["items"]) == 7 and rest["next_cursor"] is None
    mine = client.get("/v1/decisions", params={"customer_id": "C1"}).json()["items"]
    assert {i["transaction"]["customer_id"] for i in mine} == {"C1"} and len(mine) == 6
    assert client.get("/v1/decisions", params={"outcome": "maybe"}).status_code == 422
    assert client.get("/v1/decisions", params={"since": "2026-01-01T00:00:00"}).status_code == 422
    assert client.get("/v1/decisions", params={"cursor": "garbage"}).status_code == 422


def test_labels_feed_back_into_features(client: TestClient, runtime: Runtime) -> None:
    client.post("/v1/score", json=[tx(i) for i in range(4)])
    names = list(runtime.service.model.features.names)
    known, reported = names.index("merchant_known_frauds_7d"), names.index("merchant_frauds_reported_24h")
    from fraudstream.schema import Transaction

    probe = Transaction.model_validate(tx(99))
    assert runtime.service.peek([probe])[0][[known, reported]].tolist() == [0.0, 0.0]
    label = {"transaction_id": "api-1", "is_fraud": True, "reported_at": (T0 + timedelta(hours=1)).isoformat()}
    response = client.post("/v1/labels", json=[label, {**label, "source": "chargeback"}])
    assert response.status_code == 201 and response.json() == {"received": 2, "stored": 2}
    assert runtime.service.peek([probe])[0][[known, reported]].tolist() == [1.0, 1.0]  # counted once
    assert client.post("/v1/labels", json=label).json()["stored"] == 0  # the same report again
    unknown = client.post("/v1/labels", json=[{**label, "source": "x"}, {**label, "transaction_id": "ghost"}])
    assert unknown.status_code == 404 and "ghost" in unknown.json()["detail"]
    assert len(client.get("/v1/transactions/api-1").json()["labels"]) == 2  # the "x" label was not stored


def test_review_queue_and_verdicts(trained_model: Model, tmp_path: Path) -> None:
    # A model that sends everything to review, so the queue has something in it.
    reviewer = dataclasses.replace(trained_model, thresholds=Thresholds(0.0, 2.0, "test", {}))
    runtime = build_runtime(Settings(home=tmp_path), model=reviewer)
    with TestClient(create_app(runtime=runtime)) as client:
        client.post("/v1/score", json=[tx(i) for i in range(3)])
        queue = client.get("/v1/reviews/queue").json()["items"]
        assert [i["decision"]["transaction_id"] for i in queue] == ["api-2", "api-1", "api-0"]
        made = client.post("/v1/reviews", json={"transaction_id": "api-1", "verdict": "fraud", "analyst": "ana"})
        assert made.status_code == 201 and made.json()["is_fraud"] is True and made.json()["source"] == "analyst"
        client.post("/v1/reviews", json={"transaction_id": "api-2", "verdict": "legit", "note": "<i>known</i>"})
        assert [i["decision"]["transaction_id"] for i in client.get("/v1/reviews/queue").json()["items"]] == ["api-0"]
        stored = client.get("/v1/transactions/api-1").json()
        assert stored["reviews"][0]["analyst"] == "ana" and stored["labels"][0]["is_fraud"] is True
        assert client.post("/v1/reviews", json={"transaction_id": "ghost", "verdict": "fraud"}).status_code == 404
        assert client.post("/v1/reviews", json={"transaction_id": "api-0", "verdict": "maybe"}).status_code == 422


def test_customer_and_model(client: TestClient) -> None:
    client.post("/v1/score", json=[tx(i) for i in range(5)])
    customer = client.get("/v1/customers/C-api").json()
    assert customer["features"]["customer_count_30d"] == 5
    assert len(customer["recent"]) == 5
    assert client.get("/v1/customers/nobody").status_code == 404
    model = client.get("/v1/model").json()
    assert model["version"].startswith("session-")
    assert {"review", "decline"} <= set(model["thresholds"])
    assert any(f["name"] == "customer_count_1h" and f["description"] for f in model["features"])


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_health_metrics_stats_docs_dashboard(client: TestClient, runtime: Runtime) -> None:
    decided = client.post("/v1/score", json=[tx(i) for i in range(3)]).json()
    client.post("/v1/score", json=tx(0))  # a replay: counted as such, not as a decision
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert ready.json()["scoring"] == {"deciding": 0, "waiting": 0, "saturated": False}
    values = metric_values(client.get("/metrics").text)
    outcomes = Counter(d["outcome"] for d in decided)
    by_outcome = {
        dict(labels)["outcome"]: value
        for (name, labels), value in values.items()
        if name == "fraudstream_decisions_total"
    }
    assert {k: v for k, v in by_outcome.items() if v} == outcomes
    assert values[("fraudstream_replayed_decisions_total", ())] == 1
    assert values[("fraudstream_end_to_end_seconds_count", (("path", "api"),))] == 3
    assert values[("fraudstream_batch_size_count", ())] == 1 and values[("fraudstream_batch_size_sum", ())] == 3
    assert values[("fraudstream_model_info", (("version", runtime.service.scorer.version),))] == 1
    client.app.state.pool.queue = 0  # type: ignore[attr-defined]  # every request would wait: saturated
    busy = client.get("/readyz")
    assert busy.status_code == 503 and busy.json()["scoring"]["saturated"] is True
    stats = client.get("/v1/stats").json()
    assert stats["decisions"] == 3 and len(stats["score_histogram"]) == 20
    assert stats["latency_ms"]["p50"] is not None
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/score" in spec["paths"] and "Transaction" in spec["components"]["schemas"]
    assert client.get("/").headers["content-type"].startswith("text/html")


def test_server_sent_events(client: TestClient) -> None:
    client.post("/v1/score", json=tx(7))
    with client.stream("GET", "/v1/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                break
    assert event["transaction_id"] == "api-7" and event["amount"] == 32.0 and "latitude" in event


KEYS = {
    "score": "score-key-0123456789",
    "read": "read-key-0123456789",
    "label": "label-key-0123456789",
    "metrics": "metrics-key-0123456789",
    "admin": "admin-key-0123456789",
}
ROTATED = "score-key-the-new-one-42"  # a second key with the same scope, as during a rotation


@pytest.fixture
def secured(trained_model: Model, tmp_path: Path) -> Iterator[TestClient]:
    entries = [f"{key}:{scope}" for scope, key in KEYS.items() if scope != "read"]
    entries.append(f"sha256:{hashlib.sha256(KEYS['read'].encode()).hexdigest()}:read")  # given by its digest
    entries.append(f"{ROTATED}:score")
    settings = Settings(home=tmp_path, api_keys=";".join(entries), failed_keys_per_minute=1_000)
    runtime = build_runtime(settings, model=trained_model)
    with TestClient(create_app(runtime=runtime)) as client:
        yield client


def secured_routes() -> list[tuple[str, str, str, Any]]:
    """(method, path, scope it needs, JSON body) of every keyed route."""
    label = {"transaction_id": "api-1", "is_fraud": True, "reported_at": (T0 + timedelta(hours=1)).isoformat()}
    return [
        ("POST", "/v1/score", "score", tx(1)),
        ("GET", "/v1/transactions/api-1", "read", None),
        ("GET", "/v1/decisions", "read", None),
        ("GET", "/v1/customers/C-api", "read", None),
        ("GET", "/v1/model", "read", None),
        ("GET", "/v1/reviews/queue", "read", None),
        ("GET", "/v1/stats", "read", None),
        ("GET", "/v1/events?replay=false", "read", None),
        ("POST", "/v1/labels", "label", label),
        ("POST", "/v1/reviews", "label", {"transaction_id": "api-1", "verdict": "legit"}),
        ("GET", "/metrics", "metrics", None),
    ]


def test_every_route_admits_exactly_the_keys_with_its_scope(secured: TestClient) -> None:
    secured.post("/v1/score", json=tx(1), headers={"X-API-Key": KEYS["score"]}).raise_for_status()
    for method, path, scope, body in secured_routes():
        for holder, key in [*KEYS.items(), ("none", None), ("wrong", "wrong-key-0123456789")]:
            headers = {} if key is None else {"X-API-Key": key}
            if path.startswith("/v1/events"):
                if holder not in (scope, "admin"):  # the stream itself is not opened for an admitted key
                    status = secured.get(path, headers=headers).status_code
                    assert status == (401 if holder in ("none", "wrong") else 403), (path, holder)
                continue
            status = secured.request(method, path, json=body, headers=headers).status_code
            expected = 401 if holder in ("none", "wrong") else 403 if holder not in (scope, "admin") else None
            if expected is None:
                assert status < 400, (method, path, holder, status)
            else:
                assert status == expected, (method, path, holder, status)
    assert secured.get("/healthz").status_code == 200  # operations stay open
    assert secured.get("/").status_code == 200


def test_keys_come_in_headers_never_in_the_url(secured: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {KEYS['read']}"}  # as Prometheus sends its credentials
    assert secured.get("/v1/decisions", headers=bearer).status_code == 200
    assert secured.get("/v1/decisions", params={"api_key": KEYS["read"]}).status_code == 401
    assert secured.post("/v1/score", json=tx(2), headers={"X-API-Key": ROTATED}).status_code == 200
    # An unauthenticated body is never read: 401, not a 422 about its content.
    garbage = b"{" * 200_000
    headers = {"content-type": "application/json"}
    for path in ("/v1/score", "/v1/labels", "/v1/reviews"):
        assert secured.post(path, content=garbage, headers=headers).status_code == 401
    assert secured.get("/docs").status_code == 404 and secured.get("/openapi.json").status_code == 404


def test_wrong_keys_and_busy_keys_get_429(trained_model: Model, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, api_keys=f"{KEYS['read']}:read", failed_keys_per_minute=5, key_requests_per_s=2)
    with TestClient(create_app(runtime=build_runtime(settings, model=trained_model))) as client:
        wrong = [client.get("/v1/decisions", headers={"X-API-Key": f"guess-{i:016d}"}).status_code for i in range(7)]
        assert wrong == [401] * 5 + [429] * 2
        refused = client.get("/v1/decisions", headers={"X-API-Key": KEYS["read"]})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1  # from this client, for now
    with TestClient(create_app(runtime=build_runtime(settings, model=trained_model))) as client:
        statuses = [client.get("/v1/decisions", headers={"X-API-Key": KEYS["read"]}).status_code for _ in range(8)]
        assert statuses.count(200) == 4 and statuses[-1] == 429  # a burst of twice the rate, then 429


def test_every_response_carries_security_headers(client: TestClient) -> None:
    for path in ("/", "/app.js", "/v1/decisions", "/healthz"):
        headers = client.get(path).headers
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert client.get("/docs").status_code == 200  # open without keys, outside the dashboard's policy
    assert "Content-Security-Policy" not in client.get("/docs").headers


def test_feedback_records_the_key_that_gave_it(secured: TestClient) -> None:
    secured.post("/v1/score", json=[tx(1), tx(2)], headers={"X-API-Key": KEYS["score"]}).raise_for_status()
    label = {"transaction_id": "api-1", "is_fraud": True, "reported_at": (T0 + timedelta(hours=1)).isoformat()}
    secured.post("/v1/labels", json=label, headers={"X-API-Key": KEYS["label"]}).raise_for_status()
    review = {"transaction_id": "api-2", "verdict": "legit", "analyst": "ana"}
    secured.post("/v1/reviews", json=review, headers={"X-API-Key": KEYS["admin"]}).raise_for_status()
    read = {"X-API-Key": KEYS["read"]}
    key_id = {scope: hashlib.sha256(key.encode()).hexdigest()[:12] for scope, key in KEYS.items()}
    assert secured.get("/v1/transactions/api-1", headers=read).json()["labels"][0]["key_id"] == key_id["label"]
    reviewed = secured.get("/v1/transactions/api-2", headers=read).json()
    assert reviewed["reviews"][0]["key_id"] == key_id["admin"] == reviewed["labels"][0]["key_id"]
    assert KEYS["admin"] not in json.dumps(reviewed)  # the id, never the key


def test_bad_key_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="KEY:scope"):
        Settings(api_keys="a-long-enough-key-0123:superuser")
    with pytest.raises(ValueError, match="at least 16 characters"):
        Settings(api_keys="k:admin")


def test_runtimes_running_together_give_the_collector_back_once_all_stopped(
    trained_model: Model, tmp_path: Path
) -> None:
    before = gc.get_threshold()
    first = build_runtime(Settings(home=tmp_path / "a"), model=trained_model)
    second = build_runtime(Settings(home=tmp_path / "b"), model=trained_model)
    first.start()
    second.start()
    with pytest.raises(RuntimeError, match="running already"):
        second.start()
    first.stop()
    assert gc.get_threshold() == COLLECTOR_THRESHOLDS  # the second still runs
    second.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
