"""Cases: a customer's flagged payments worked as one (read: scope read; work: scope label).

A verdict closes a case and reviews each of its payments with it, so each gets a label
that the features learn from, as a single review does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from fraudstream.api.answers import AUTH, answers
from fraudstream.api.bodies import one_of, parsed
from fraudstream.api.dependencies import get_service, json_body, require
from fraudstream.api.schemas import ScoredTransaction
from fraudstream.decide.service import DecisionService
from fraudstream.schema import Name, Text
from fraudstream.store.cases import CaseStateError, UnknownCaseError

router = APIRouter(prefix="/v1", tags=["cases"], responses=answers(*AUTH))

Service = Annotated[DecisionService, Depends(get_service)]
CaseId = Annotated[int, Path(ge=1, le=2**62)]


class CaseView(BaseModel):
    id: int
    customer_id: str
    status: Literal["open", "assigned", "closed"]
    assignee: str | None
    verdict: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    payments: int = Field(description="Flagged payments in the case.")
    max_score: float
    age_hours: float = Field(description="Open this long (until closed).")
    due_at: datetime = Field(description="When it becomes overdue (opened + FRAUDSTREAM_CASE_SLA_HOURS).")
    overdue: bool


class CasePage(BaseModel):
    items: list[CaseView]
    next_before: int | None = Field(description="Pass back as `before` for the next page.")


class NoteView(BaseModel):
    author: str | None
    text: str
    created_at: datetime
    key_id: str | None


class CaseDetail(BaseModel):
    case: CaseView
    payments: list[ScoredTransaction] = Field(description="The case's flagged payments, oldest first.")
    recent: list[ScoredTransaction] = Field(description="The customer's latest payments, whatever their outcome.")
    notes: list[NoteView]


class CaseChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: Name | None = Field(None, description="Assign the case (status assigned); null: unassign.")
    verdict: Literal["fraud", "legit"] | None = Field(None, description="Close the case with this verdict.")
    analyst: Name | None = None
    note: Text | None = Field(None, description="Kept with the verdict's reviews.")
    block: list[Literal["customer", "device"]] = Field(
        default_factory=list, max_length=2, description="With a fraud verdict: block the customer and/or its devices."
    )

    @model_validator(mode="after")
    def _consistent(self) -> CaseChange:
        if self.block and self.verdict != "fraud":
            raise ValueError("block goes with a fraud verdict")
        if self.verdict is None and "assignee" not in self.model_fields_set:
            raise ValueError("give an assignee or a verdict")
        return self


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1)
    author: Name | None = None


def _view(case: Any) -> CaseView:
    return CaseView(**case.to_json(datetime.now(UTC)))


@router.get("/cases", response_model=CasePage, dependencies=[Depends(require("read"))])
def list_cases(
    service: Service,
    status: Literal["open", "assigned", "closed"] | None = None,
    assignee: Name | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> CasePage:
    """Cases, newest first; new flagged payments open cases as they are read."""
    cases = service.store.cases.find(status, assignee, limit + 1, before)
    page = cases[:limit]
    return CasePage(items=[_view(c) for c in page], next_before=page[-1].id if len(cases) > limit else None)


@router.get(
    "/cases/{case_id}", response_model=CaseDetail, dependencies=[Depends(require("read"))], responses=answers(404)
)
def get_case(case_id: CaseId, service: Service) -> CaseDetail:
    """A case with its payments (decisions, rules fired, reasons), the customer's latest
    payments and the notes."""
    store = service.store
    try:
        case = store.cases.get(case_id)
    except UnknownCaseError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case") from None
    ids = store.cases.transaction_ids(case)
    decisions, transactions = store.decisions_for(ids), store.transactions_for(ids)
    recent, _ = store.list_decisions(customer_id=case.customer_id, limit=50)
    return CaseDetail(
        case=_view(case),
        payments=[ScoredTransaction(transaction=transactions[i], decision=decisions[i]) for i in ids],
        recent=[ScoredTransaction(transaction=t, decision=d) for t, d in recent],
        notes=[NoteView(**vars(n)) for n in store.cases.notes(case_id)],
    )


@router.patch(
    "/cases/{case_id}",
    response_model=CaseView,
    dependencies=[Depends(require("label")), Depends(json_body)],
    responses=answers(404, 409, 415, _409="The case is closed"),
    openapi_extra=one_of("CaseChange"),
)
async def change_case(case_id: CaseId, request: Request, service: Service) -> CaseView:
    """Assign a case, or close it with a verdict: each of its payments is reviewed with it."""
    change = parsed(CaseChange, await request.body())
    key_id = getattr(request.state, "key_id", None)
    return await run_in_threadpool(_change, service, case_id, change, key_id)


def _change(service: DecisionService, case_id: int, change: CaseChange, key_id: str | None) -> CaseView:
    cases = service.store.cases
    try:
        if change.verdict is not None:
            service.close_case(case_id, change.verdict, change.analyst, change.note, change.block, key_id)
        else:
            cases.assign(case_id, change.assignee)
        return _view(cases.get(case_id))
    except UnknownCaseError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case") from None
    except CaseStateError as exc:
        where = {"loc": ["path", "case_id"], "msg": str(exc), "type": "case_closed"}
        raise HTTPException(status.HTTP_409_CONFLICT, [where]) from None


@router.post(
    "/cases/{case_id}/notes",
    response_model=NoteView,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require("label")), Depends(json_body)],
    responses=answers(404, 415),
    openapi_extra=one_of("NoteRequest"),
)
async def add_note(case_id: CaseId, request: Request, service: Service) -> NoteView:
    """A note on a case."""
    note = parsed(NoteRequest, await request.body())
    key_id = getattr(request.state, "key_id", None)
    try:
        added = await run_in_threadpool(service.store.cases.add_note, case_id, note.text, note.author, key_id)
    except UnknownCaseError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case") from None
    return NoteView(**vars(added))
