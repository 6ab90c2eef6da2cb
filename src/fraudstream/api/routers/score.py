"""POST /v1/score: one transaction or a batch, decided, stored and published."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from fraudstream.api.dependencies import get_service, require
from fraudstream.schema import Decision, Transaction
from fraudstream.service import DecisionService

router = APIRouter(prefix="/v1", tags=["scoring"])

_ONE = TypeAdapter(Transaction)
_MANY = TypeAdapter(list[Transaction])
_DECISIONS = TypeAdapter(list[Decision])

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Transaction"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/Transaction"}},
                    ]
                }
            }
        },
    }
}


def _validate(body: Any, limit: int) -> tuple[list[Transaction], bool]:
    """The body as transactions, and whether it was a list; 422 names the field, 413 if too many."""
    try:
        if isinstance(body, list):
            if len(body) > limit:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE, f"{len(body)} transactions; at most {limit} per request"
                )
            return _MANY.validate_python(body), True
        return [_ONE.validate_python(body)], False
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


@router.post(
    "/score",
    dependencies=[Depends(require("score"))],
    response_model=Decision | list[Decision],
    openapi_extra=_BODY_DOC,
    summary="Score one transaction or a list of them",
    responses={413: {"description": "Too many transactions in one request"}},
)
def score(
    request: Request,
    service: Annotated[DecisionService, Depends(get_service)],
    body: Annotated[Any, Body(include_in_schema=False)],
) -> Response:
    """Each transaction gets a decision: score, outcome, reasons, model version and timings.

    A transaction id that was decided before gets its stored decision back.
    """
    received = time.time()
    transactions, many = _validate(body, request.app.state.settings.max_batch)
    decisions = service.decide(transactions, [received] * len(transactions), path="api").decisions
    payload = _DECISIONS.dump_json(decisions) if many else decisions[0].__pydantic_serializer__.to_json(decisions[0])
    return Response(payload, media_type="application/json")
