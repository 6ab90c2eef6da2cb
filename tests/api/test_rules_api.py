"""Rules and lists over the API: checked whole, in force at the next batch, on every decision."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from fraudstream.api import create_app
from fraudstream.config import Settings
from fraudstream.model.artifact import Model
from fraudstream.runtime import Runtime, build_runtime
from tests.api.test_api import tx

RULES = {
    "rules": [
        {"id": "huge", "when": "amount > 5000", "action": "block", "description": "Too large for this shop."},
        {"id": "online_far", "when": "channel = 'online' and amount > 100", "action": "review"},
        {"id": "watch_atm", "when": "channel = 'atm'", "action": "block", "mode": "shadow"},
        {"id": "trusted", "when": "customer_id = 'C-trusted'", "action": "allow"},
        {"id": "bump", "when": "amount > 1000", "action": {"score_add": 0.05}},
    ]
}
ADMIN, READER = "admin-key-0123456789abcdef", "reader-key-0123456789abcdef"


@pytest.fixture
def runtime(trained_model: Model, tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(home=tmp_path), model=trained_model)
    runtime.start()
    yield runtime
    runtime.stop()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as client:
        yield client


def hit_ids(decision: dict) -> list[str]:  # type: ignore[type-arg]
    return [hit["id"] for hit in decision["rules"]]


def test_a_ruleset_put_is_in_force_for_the_next_decision(client: TestClient) -> None:
    before = client.post("/v1/score", json=tx(1, amount=9000.0)).json()
    assert before["rules"] == [] and before["ruleset_version"] is None
    saved = client.put("/v1/rules", json=RULES)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"version": 1, "rules": 5}
    decisions = client.post(
        "/v1/score",
        json=[
            tx(2, amount=9000.0),
            tx(3, amount=150.0, channel="online"),
            tx(4, amount=9000.0, customer_id="C-trusted"),
            tx(5, amount=20.0, channel="atm"),
        ],
    ).json()
    assert [d["outcome"] for d in decisions[:3]] == ["decline", "review", "approve"]
    assert [hit_ids(d) for d in decisions] == [
        ["huge", "bump"],
        ["online_far"],
        ["huge", "trusted", "bump"],
        ["watch_atm"],
    ]
    assert decisions[3]["rules"] == [{"id": "watch_atm", "action": "block", "mode": "shadow"}]
    assert decisions[3]["outcome"] != "decline" or decisions[3]["score"] >= 0.5  # shadow: the model decided
    assert all(d["ruleset_version"] == 1 for d in decisions)
    stored = client.get("/v1/transactions/api-2").json()["decision"]
    assert stored["rules"] == decisions[0]["rules"] and stored["ruleset_version"] == 1

    current = client.get("/v1/rules").json()
    assert current["version"] == 1 and [r["id"] for r in current["rules"]] == [r["id"] for r in RULES["rules"]]
    assert current["hits"] == {
        "huge": {"hour": 2, "day": 2},
        "bump": {"hour": 2, "day": 2},
        "online_far": {"hour": 1, "day": 1},
        "trusted": {"hour": 1, "day": 1},
        "watch_atm": {"hour": 1, "day": 1},
    }
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    hits = {
        (s.labels["rule"], s.labels["action"], s.labels["mode"]): s.value
        for s in families["fraudstream_rule_hits"].samples
        if s.name.endswith("_total")
    }
    assert hits == {
        ("huge", "block", "live"): 2,
        ("bump", "score_add", "live"): 2,
        ("online_far", "review", "live"): 1,
        ("trusted", "allow", "live"): 1,
        ("watch_atm", "block", "shadow"): 1,
    }
    assert families["fraudstream_ruleset_version"].samples[0].value == 1


def test_a_bad_ruleset_is_refused_whole_and_says_where(client: TestClient) -> None:
    client.put("/v1/rules", json=RULES).raise_for_status()
    bad = {
        "rules": [
            {"id": "ok", "when": "amount > 1", "action": "review"},
            {"id": "typo", "when": "amount > 1 and\n velocity > 2", "action": "block"},
            {"id": "lists", "when": "device_id in list('nope')", "action": "block"},
        ]
    }
    refused = client.put("/v1/rules", json=bad)
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {
            "loc": ["body", "rules", 1, "when"],
            "msg": "rule typo: unknown field 'velocity' (when: line 2, column 2)",
            "type": "rule_invalid",
        },
        {
            "loc": ["body", "rules", 2, "when"],
            "msg": "rule lists, when: the list 'nope' does not exist",
            "type": "rule_invalid",
        },
    ]
    assert client.get("/v1/rules").json()["version"] == 1  # nothing of it applied
    assert client.put("/v1/rules", json=RULES).json()["version"] == 1  # the same again: no new version
    assert client.put("/v1/rules?dry_run=true", json=RULES).json() == {"version": None, "rules": 5}
    assert client.get("/v1/rules").json()["version"] == 1
    invalid = client.put("/v1/rules", json={"rules": [{"id": "x", "when": "amount > 1", "action": "escalate"}]})
    assert invalid.status_code == 422 and "escalate" not in invalid.text


def test_lists_block_allow_and_expire(client: TestClient, runtime: Runtime) -> None:
    created = client.post(
        "/v1/lists/blocked_devices/entries",
        json={"values": ["dev-bad", "dev-later"], "kind": "device", "action": "block", "note": "chargebacks"},
    )
    assert created.status_code == 201 and created.json() == {"list": "blocked_devices", "added": 2, "updated": 0}
    gone = datetime.now(UTC) - timedelta(seconds=1)
    past = client.post("/v1/lists/blocked_devices/entries", json={"values": ["x"], "expires_at": gone.isoformat()})
    assert past.status_code == 422 and past.json()["detail"][0]["loc"] == ["body", "expires_at"]
    runtime.service.store.policies.add_entries("blocked_devices", ["dev-later"], gone)  # as if it had expired
    client.post("/v1/lists/vip_countries/entries", json={"values": ["fr"], "kind": "country"}).raise_for_status()
    rules = {"rules": [{"id": "vip", "when": "country in list('vip_countries')", "action": "review"}]}
    client.put("/v1/rules", json=rules).raise_for_status()

    bad, later = client.post("/v1/score", json=[tx(1, device_id="dev-bad"), tx(2, device_id="dev-later")]).json()
    assert bad["outcome"] == "decline" and hit_ids(bad) == ["list.blocked_devices", "vip"]
    assert hit_ids(later) == ["vip"]  # expired: no longer on the list

    lists = {item["name"]: item for item in client.get("/v1/lists").json()}
    assert lists["blocked_devices"]["entries"] == 1 and lists["vip_countries"]["kind"] == "country"
    entries = client.get("/v1/lists/vip_countries/entries").json()
    assert [e["value"] for e in entries] == ["FR"]
    assert len(client.get("/v1/lists/blocked_devices/entries?expired=true").json()) == 2
    assert client.delete("/v1/lists/blocked_devices/entries?value=dev-bad").json()["removed"] == 1
    again = client.post("/v1/score", json=tx(3, device_id="dev-bad")).json()
    assert hit_ids(again) == ["vip"]
    assert client.get("/v1/rules").json()["lists"] == [{"name": "blocked_devices", "action": "block"}]
    # Adding values never changes what a list does: that is a change of its own.
    flip = client.post("/v1/lists/blocked_devices/entries", json={"values": ["d9"], "action": "allow"})
    assert flip.status_code == 409 and flip.json()["detail"][0]["loc"] == ["body", "action"]
    wrong_kind = client.post("/v1/lists/blocked_devices/entries", json={"values": ["d9"], "kind": "ip"})
    assert wrong_kind.status_code == 409 and wrong_kind.json()["detail"][0]["loc"] == ["body", "kind"]
    assert client.patch("/v1/lists/blocked_devices", json={"action": None}).json()["action"] is None
    assert client.get("/v1/rules").json()["lists"] == []
    assert client.patch("/v1/lists/nope", json={"action": "block"}).status_code == 404

    assert client.get("/v1/lists/nope/entries").status_code == 404
    assert client.post("/v1/lists/nope/entries", json={"values": ["x"]}).status_code == 404
    wrong = client.post("/v1/lists/vip_countries/entries", json={"values": ["France<script>"]})
    assert wrong.status_code == 422 and "script" not in wrong.text


def test_changing_rules_and_lists_needs_the_admin_scope(trained_model: Model, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, api_keys=f"{ADMIN}:admin;{READER}:read")
    runtime = build_runtime(settings, model=trained_model)
    runtime.start()
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            reader, admin = {"X-API-Key": READER}, {"X-API-Key": ADMIN}
            assert client.put("/v1/rules", json=RULES, headers=reader).status_code == 403
            body = {"values": ["x"], "kind": "device"}
            assert client.post("/v1/lists/l/entries", json=body, headers=reader).status_code == 403
            assert client.put("/v1/rules", json=RULES, headers=admin).status_code == 200
            assert client.post("/v1/lists/l/entries", json=body, headers=admin).status_code == 201
            assert client.get("/v1/rules", headers=reader).json()["version"] == 1
            assert client.get("/v1/lists/l/entries", headers=reader).status_code == 200
            assert client.get("/v1/rules").status_code == 401
    finally:
        runtime.stop()


def test_a_fraud_verdict_can_block_the_customer_and_device(client: TestClient) -> None:
    client.post("/v1/score", json=tx(1, device_id="dev-stolen")).raise_for_status()
    legit = client.post("/v1/reviews", json={"transaction_id": "api-1", "verdict": "legit", "block": ["device"]})
    assert legit.status_code == 422
    review = {"transaction_id": "api-1", "verdict": "fraud", "block": ["customer", "device"], "block_days": 30}
    assert client.post("/v1/reviews", json=review).status_code == 201
    lists = {item["name"]: item for item in client.get("/v1/lists").json()}
    assert lists["blocked_devices"]["action"] == "block" and lists["blocked_customers"]["entries"] == 1
    (entry,) = client.get("/v1/lists/blocked_devices/entries").json()
    assert entry["value"] == "dev-stolen" and entry["expires_at"] is not None
    later = client.post("/v1/score", json=tx(2, device_id="dev-stolen", customer_id="C-other")).json()
    assert later["outcome"] == "decline" and [h["id"] for h in later["rules"]] == ["list.blocked_devices"]


def test_a_ruleset_is_tried_on_the_stored_days_before_it_is_enabled(client: TestClient) -> None:
    client.put("/v1/rules", json=RULES).raise_for_status()
    client.post("/v1/score", json=[tx(i, amount=9000.0 if i % 2 else 10.0) for i in range(10)]).raise_for_status()
    client.post("/v1/reviews", json={"transaction_id": "api-1", "verdict": "fraud"}).raise_for_status()
    candidate = {"rules": [*RULES["rules"], {"id": "small", "when": "amount < 50", "action": "review"}]}
    tried = client.post("/v1/rules/backtest", json={"rules": candidate, "days": 1, "review_cost": 2.5})
    assert tried.status_code == 200, tried.text
    result = tried.json()
    assert result["transactions"] == 10 and result["labelled_fraud"] == 1
    assert [p["name"] for p in result["policies"]] == ["model", "tested", "in force"]
    rules = {r["id"]: r for r in result["rules"]}
    assert rules["small"]["hits"] == 5 and rules["huge"]["hits"] == 5 and rules["huge"]["fraud_hits"] == 1
    tested = result["policies"][1]
    assert tested["outcomes"]["review"] + tested["outcomes"]["decline"] == 10
    assert client.get("/v1/rules").json()["version"] == 1  # trying changes nothing
    bad = {"rules": {"rules": [{"id": "x", "when": "nope > 1", "action": "block"}]}, "days": 1}
    refused = client.post("/v1/rules/backtest", json=bad)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "rules", "rules", 0, "when"]
