"""Reading what was decided: transactions, decision lists, customers, the model, the review queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from fraudstream.api.answers import AUTH, answers
from fraudstream.api.bodies import brief, query_error
from fraudstream.api.dependencies import get_service, require
from fraudstream.api.schemas import (
    CustomerView,
    DecisionPage,
    LabelView,
    ModelView,
    ReviewView,
    ScoredTransaction,
    TransactionView,
)
from fraudstream.decide.service import DecisionService
from fraudstream.features import FEATURES
from fraudstream.schema import Id, Outcome

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(require("read"))], responses=answers(*AUTH))

Service = Annotated[DecisionService, Depends(get_service)]
# Customer features that describe the probe payment rather than the customer.
_PROBE_DEPENDENT = ("previous", "new_", "distance", "speed")


@router.get("/transactions/{transaction_id}", response_model=TransactionView, responses=answers(404))
def get_transaction(transaction_id: Id, service: Service) -> TransactionView:
    """A transaction with its decision, labels and reviews."""
    stored = service.store.get(transaction_id)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no transaction {brief(transaction_id)}")
    return TransactionView(
        transaction=stored.transaction,
        decision=stored.decision,
        labels=[
            LabelView.model_construct(**label.__dict__, key_id=key)
            for label, key in zip(stored.labels, stored.label_keys, strict=True)
        ],
        reviews=[
            ReviewView(verdict=r.verdict, analyst=r.analyst, note=r.note, created_at=r.created_at, key_id=r.key_id)
            for r in stored.reviews
        ],
    )


@router.get("/decisions", response_model=DecisionPage)
def list_decisions(
    service: Service,
    outcome: Outcome | None = None,
    customer_id: Id | None = None,
    since: Annotated[datetime | None, Query(description="Decided at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Decided before (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> DecisionPage:
    """Decisions, newest first, filtered and paginated (keyset: pass `next_cursor` back)."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise query_error(name, "give a timezone (e.g. 2026-01-01T00:00:00Z)", "timezone_missing")
    try:
        page, next_cursor = service.store.list_decisions(
            outcome=outcome, customer_id=customer_id, since=since, until=until, limit=limit, cursor=cursor
        )
    except ValueError as exc:
        raise query_error("cursor", str(exc), "cursor_invalid") from None
    return DecisionPage(items=[ScoredTransaction(transaction=t, decision=d) for t, d in page], next_cursor=next_cursor)


@router.get("/reviews/queue", response_model=DecisionPage, tags=["review"])
def review_queue(
    service: Service, limit: Annotated[int, Query(ge=1, le=500)] = 50, cursor: str | None = None
) -> DecisionPage:
    """Decisions waiting for an analyst: outcome review, no label and no review yet."""
    try:
        page, next_cursor = service.store.list_decisions(
            outcome=Outcome.REVIEW, unresolved=True, limit=limit, cursor=cursor
        )
    except ValueError as exc:
        raise query_error("cursor", str(exc), "cursor_invalid") from None
    return DecisionPage(items=[ScoredTransaction(transaction=t, decision=d) for t, d in page], next_cursor=next_cursor)


@router.get("/customers/{customer_id}", response_model=CustomerView, responses=answers(404))
def get_customer(customer_id: Id, service: Service, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> CustomerView:
    """A customer's recent decisions and their behavioural features as of now."""
    recent, _ = service.store.list_decisions(customer_id=customer_id, limit=limit)
    if not recent:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no decisions for customer {brief(customer_id)}")
    latest = max((t for t, _ in recent), key=lambda t: t.timestamp)
    # A probe: the customer's latest payment again, now. Its customer features are the
    # customer's current ones; nothing is folded.
    as_of = max(datetime.now(UTC), latest.timestamp + timedelta(milliseconds=1))
    probe = latest.model_copy(update={"timestamp": as_of, "transaction_id": f"probe:{customer_id}"})
    values = service.peek([probe])[0]
    names = service.model.features.names
    features = {
        name: None if value != value else float(value)
        for name, value in zip(names, values, strict=True)
        if name.startswith("customer_") and name in FEATURES and not any(p in name for p in _PROBE_DEPENDENT)
    }
    return CustomerView(
        customer_id=customer_id,
        as_of=as_of,
        features=features,
        recent=[ScoredTransaction(transaction=t, decision=d) for t, d in recent],
    )


@router.get("/model", response_model=ModelView, tags=["model"])
def get_model(service: Service) -> ModelView:
    """The model in use: version, features, thresholds, training window and metrics."""
    model = service.model
    info = model.info
    return ModelView(
        version=model.version,
        created_at=info.get("created_at"),
        features=[
            {"name": n, "description": FEATURES[n].description if n in FEATURES else "data set field"}
            for n in model.features.names
        ],
        thresholds=model.thresholds.to_json(),
        training=info.get("training", {}),
        metrics=info.get("metrics", {}),
    )
