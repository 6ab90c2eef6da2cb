"""Feedback: labels (chargebacks, confirmed fraud) and analysts' reviews."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, status
from pydantic import TypeAdapter, ValidationError

from fraudstream.api.bodies import body_error, one_or_many
from fraudstream.api.dependencies import get_service, require
from fraudstream.api.schemas import ReviewRequest
from fraudstream.schema import Label
from fraudstream.service import DecisionService
from fraudstream.store import UnknownTransactionsError

router = APIRouter(prefix="/v1", tags=["feedback"], dependencies=[Depends(require("label"))])

Service = Annotated[DecisionService, Depends(get_service)]
_LABELS = TypeAdapter(Label | list[Label])


@router.post(
    "/labels",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=one_or_many("Label"),
    responses={404: {"description": "A label names a transaction that is not stored; nothing was stored"}},
)
def post_labels(service: Service, body: Annotated[Any, Body(include_in_schema=False)]) -> dict[str, Any]:
    """Confirmed fraud or legitimate: stored, and folded into the features of later transactions.

    All or nothing: if one label names an unknown transaction, none is stored.
    """
    try:
        parsed = _LABELS.validate_python(body)
    except ValidationError as exc:
        raise body_error(exc) from None
    labels = parsed if isinstance(parsed, list) else [parsed]
    try:
        new = service.label(labels)
    except UnknownTransactionsError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return {"received": len(labels), "stored": len(new)}


@router.post("/reviews", status_code=status.HTTP_201_CREATED, response_model=Label, tags=["review"])
def post_review(request: ReviewRequest, service: Service) -> Label:
    """An analyst's verdict on a transaction; it becomes a label (source "analyst")."""
    try:
        return service.review(request.transaction_id, request.verdict.value, request.analyst, request.note)
    except UnknownTransactionsError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
