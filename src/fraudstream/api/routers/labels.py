"""Feedback: labels (chargebacks, confirmed fraud) and analysts' reviews."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from fraudstream.api.answers import AUTH, answers
from fraudstream.api.bodies import body_error, one_of, one_or_many
from fraudstream.api.dependencies import get_pool, get_service, json_body, require
from fraudstream.api.pool import ScoringPool
from fraudstream.api.schemas import ReviewRequest
from fraudstream.config import Settings
from fraudstream.decide.service import DecisionService
from fraudstream.schema import Label, received_now
from fraudstream.store import LabelsBeforePaymentError, UnknownTransactionsError

router = APIRouter(
    prefix="/v1",
    tags=["feedback"],
    dependencies=[Depends(require("label")), Depends(json_body)],
    responses=answers(*AUTH, 415, 503),
)

Service = Annotated[DecisionService, Depends(get_service)]
Pool = Annotated[ScoringPool, Depends(get_pool)]
_LABEL = TypeAdapter(Label)
_LABELS = TypeAdapter(list[Label])
_REVIEW = TypeAdapter(ReviewRequest)


@router.post(
    "/labels",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=one_or_many("Label"),
    responses=answers(404, 413, _404="A label names a transaction that is not stored; nothing was stored"),
)
async def post_labels(request: Request, service: Service, pool: Pool) -> dict[str, Any]:
    """Confirmed fraud or legitimate: stored, and folded into the features of later transactions.

    All or nothing: if one label names an unknown transaction, or was reported before its
    transaction, none is stored.
    """
    body = await request.body()
    key_id = getattr(request.state, "key_id", None)
    return await pool.run(service, len(body), lambda: _store_labels(service, body, key_id, request.app.state.settings))


def _store_labels(service: DecisionService, body: bytes, key_id: str | None, settings: Settings) -> dict[str, Any]:
    many = body.lstrip()[:1] == b"["  # as for transactions: errors then name the item, not a type
    context = received_now(settings.max_future)
    try:
        labels = _LABELS.validate_json(body, context=context) if many else [_LABEL.validate_json(body, context=context)]
    except ValidationError as exc:
        raise body_error(exc) from None
    if len(labels) > settings.max_batch:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"{len(labels)} labels; at most {settings.max_batch} per request"
        )
    try:
        new = service.label(labels, key_id)
    except UnknownTransactionsError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except LabelsBeforePaymentError as exc:
        early = set(exc.ids)
        where = [("body", i) if many else ("body",) for i, label in enumerate(labels) if label.transaction_id in early]
        raise RequestValidationError(
            [
                {"loc": (*loc, "reported_at"), "msg": "is before its transaction's timestamp", "type": "value_error"}
                for loc in where
            ]
        ) from None
    return {"received": len(labels), "stored": len(new)}


@router.post(
    "/reviews",
    status_code=status.HTTP_201_CREATED,
    response_model=Label,
    tags=["review"],
    openapi_extra=one_of("ReviewRequest"),
    responses=answers(404, 413, _404="No such transaction is stored"),
)
async def post_review(request: Request, service: Service, pool: Pool) -> Label:
    """An analyst's verdict on a transaction; it becomes a label (source "analyst").

    The body is read only once the key is checked (as every body here).
    """
    body = await request.body()
    key_id = getattr(request.state, "key_id", None)
    return await pool.run(service, len(body), lambda: _store_review(service, body, key_id))


def _store_review(service: DecisionService, body: bytes, key_id: str | None) -> Label:
    try:
        review = _REVIEW.validate_json(body)
    except ValidationError as exc:
        raise body_error(exc) from None
    try:
        label = service.review(review.transaction_id, review.verdict.value, review.analyst, review.note, key_id)
        if review.block:
            service.block(review.transaction_id, review.block, review.block_days, key_id)
    except UnknownTransactionsError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return label
