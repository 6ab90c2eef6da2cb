"""POST /v1/score: one transaction or a batch, decided, stored and published."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import TypeAdapter, ValidationError

from fraudstream.api.answers import AUTH, answers
from fraudstream.api.bodies import body_error, one_or_many
from fraudstream.api.dependencies import get_pool, get_service, json_body, require
from fraudstream.api.pool import ScoringPool
from fraudstream.decide.service import DecisionService
from fraudstream.schema import Decision, Transaction, received_now

router = APIRouter(prefix="/v1", tags=["scoring"])

_ONE = TypeAdapter(Transaction)
_MANY = TypeAdapter(list[Transaction])
_DECISIONS = TypeAdapter(list[Decision])
_DECISION = TypeAdapter(Decision)


def _validate(body: bytes, limit: int, max_future: timedelta) -> tuple[list[Transaction], bool]:
    """The body as transactions, and whether it was a list; 422 names the field, 413 if too many.

    Parsed straight from the bytes by pydantic (no intermediate dicts): it is most of
    the request's cost for small ones.
    """
    many = body.lstrip()[:1] == b"["
    context = received_now(max_future)
    try:
        transactions = (
            _MANY.validate_json(body, context=context) if many else [_ONE.validate_json(body, context=context)]
        )
    except ValidationError as exc:
        raise body_error(exc) from None
    if len(transactions) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"{len(transactions)} transactions; at most {limit} per request"
        )
    return transactions, many


def _conflict(transactions: list[Transaction], positions: list[int], many: bool) -> HTTPException:
    """409 naming, by position, the transactions whose id stands for another payload:
    one decided before, or one earlier in the same request."""
    first: dict[str, int] = {}
    for i, tx in enumerate(transactions):
        first.setdefault(tx.transaction_id, i)
    detail = [
        {
            "loc": ["body", i, "transaction_id"] if many else ["body", "transaction_id"],
            "msg": "this id comes earlier in the request with another payload"
            if first[transactions[i].transaction_id] < i
            else "this id was decided with another payload",
            "type": "conflicting_duplicate",
        }
        for i in positions
    ]
    if len(positions) < len(transactions):
        detail.append(
            {
                "loc": ["body"],
                "msg": "the other transactions were decided: send them again to read their decisions",
                "type": "decided",
            }
        )
    return HTTPException(status.HTTP_409_CONFLICT, detail)


@router.post(
    "/score",
    dependencies=[Depends(require("score")), Depends(json_body)],
    response_model=Decision | list[Decision],
    openapi_extra=one_or_many("Transaction"),
    summary="Score one transaction or a list of them",
    responses=answers(*AUTH, 409, 413, 415, 503),
)
async def score(
    request: Request,
    service: Annotated[DecisionService, Depends(get_service)],
    pool: Annotated[ScoringPool, Depends(get_pool)],
) -> Response:
    """Each transaction gets a decision: score, outcome, reasons, model version and timings.

    A transaction id that was decided before gets its stored decision back; sent with
    another payload (amount, customer, ...), it gets 409 and is not decided again.
    """
    received = time.time()
    body = await request.body()
    settings = request.app.state.settings

    def work() -> bytes:
        transactions, many = _validate(body, settings.max_batch, settings.max_future)
        result = service.decide(transactions, [received] * len(transactions), path="api")
        if result.conflicts:
            raise _conflict(transactions, result.conflicts, many)
        return _DECISIONS.dump_json(result.decisions) if many else _DECISION.dump_json(result.decisions[0])

    return Response(await pool.run(service, len(body), work), media_type="application/json")
