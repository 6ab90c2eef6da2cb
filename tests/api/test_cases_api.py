"""Cases: flagged payments grouped by customer, worked open -> assigned -> closed with a verdict."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fraudstream.api import create_app
from fraudstream.config import Settings
from fraudstream.model.artifact import Model
from fraudstream.model.thresholds import Thresholds
from fraudstream.runtime import Runtime, build_runtime
from tests.api.test_api import tx

RULES = {"rules": [{"id": "big", "when": "amount > 500", "action": "review"}]}


@pytest.fixture
def runtime(trained_model: Model, tmp_path: Path) -> Iterator[Runtime]:
    # Only the rule flags: the model approves everything.
    approving = dataclasses.replace(trained_model, thresholds=Thresholds(2.0, 3.0, "test", {}))
    runtime = build_runtime(Settings(home=tmp_path, case_sla_hours=1), model=approving)
    runtime.start()
    yield runtime
    runtime.stop()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as client:
        client.put("/v1/rules", json=RULES).raise_for_status()
        yield client


def test_flagged_payments_open_one_case_per_customer_and_a_verdict_labels_them(client: TestClient) -> None:
    client.post(
        "/v1/score",
        json=[
            tx(1, amount=900.0, customer_id="C-a", device_id="D-a"),
            tx(2, amount=20.0, customer_id="C-a"),
            tx(3, amount=800.0, customer_id="C-a", device_id="D-b"),
            tx(4, amount=700.0, customer_id="C-b"),
        ],
    ).raise_for_status()
    page = client.get("/v1/cases").json()
    assert [(c["customer_id"], c["payments"], c["status"]) for c in page["items"]] == [
        ("C-b", 1, "open"),
        ("C-a", 2, "open"),
    ]
    case_a = page["items"][1]
    assert case_a["overdue"] is False and case_a["due_at"] > case_a["opened_at"]

    assigned = client.patch(f"/v1/cases/{case_a['id']}", json={"assignee": "ana"}).json()
    assert assigned["status"] == "assigned" and assigned["assignee"] == "ana"
    assert [c["customer_id"] for c in client.get("/v1/cases?assignee=ana").json()["items"]] == ["C-a"]
    note = client.post(f"/v1/cases/{case_a['id']}/notes", json={"text": "called the customer", "author": "ana"})
    assert note.status_code == 201
    detail = client.get(f"/v1/cases/{case_a['id']}").json()
    assert [p["transaction"]["transaction_id"] for p in detail["payments"]] == ["api-1", "api-3"]
    assert detail["payments"][0]["decision"]["rules"][0]["id"] == "big"
    assert {p["transaction"]["transaction_id"] for p in detail["recent"]} == {"api-1", "api-2", "api-3"}
    assert [n["text"] for n in detail["notes"]] == ["called the customer"]

    verdict = {"verdict": "fraud", "analyst": "ana", "block": ["device"]}
    closed = client.patch(f"/v1/cases/{case_a['id']}", json=verdict).json()
    assert closed["status"] == "closed" and closed["verdict"] == "fraud"
    for tx_id in ("api-1", "api-3"):
        labels = client.get(f"/v1/transactions/{tx_id}").json()["labels"]
        assert [(label["is_fraud"], label["source"]) for label in labels] == [(True, "analyst")]
    assert client.get("/v1/transactions/api-2").json()["labels"] == []  # not flagged: not in the case
    devices = [e["value"] for e in client.get("/v1/lists/blocked_devices/entries").json()]
    assert devices == ["D-a", "D-b"]
    assert "blocked_customers" not in {item["name"] for item in client.get("/v1/lists").json()}
    again = client.patch(f"/v1/cases/{case_a['id']}", json={"verdict": "legit"})
    assert again.status_code == 409 and again.json()["detail"][0]["type"] == "case_closed"

    # A flagged payment after the verdict opens a new case for the customer.
    client.post("/v1/score", json=tx(5, amount=950.0, customer_id="C-a")).raise_for_status()
    open_a = client.get("/v1/cases?status=open").json()["items"]
    assert [(c["customer_id"], c["payments"]) for c in open_a] == [("C-a", 1), ("C-b", 1)]
    assert client.get("/v1/cases?status=closed").json()["items"][0]["id"] == case_a["id"]


def test_case_requests_are_checked(client: TestClient) -> None:
    client.post("/v1/score", json=tx(1, amount=900.0)).raise_for_status()
    case_id = client.get("/v1/cases").json()["items"][0]["id"]
    assert client.get("/v1/cases/999999").status_code == 404
    assert client.patch("/v1/cases/999999", json={"assignee": "x"}).status_code == 404
    assert client.patch(f"/v1/cases/{case_id}", json={}).status_code == 422
    assert client.patch(f"/v1/cases/{case_id}", json={"verdict": "legit", "block": ["device"]}).status_code == 422
    assert client.patch(f"/v1/cases/{case_id}", json={"verdict": "maybe"}).status_code == 422
    assert client.post(f"/v1/cases/{case_id}/notes", json={"text": ""}).status_code == 422
    assert client.get("/v1/cases?status=pending").status_code == 422
    old = datetime.now(UTC) - timedelta(hours=2)
    assert client.get("/v1/cases").json()["items"][0]["opened_at"] > old.isoformat()
