"""Request and response bodies of the HTTP API (the wire formats themselves are in schema.py)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fraudstream.schema import Decision, Id, Label, Name, Text, Transaction

__all__ = [
    "CustomerView",
    "DecisionPage",
    "LabelView",
    "ModelView",
    "ReviewRequest",
    "ReviewView",
    "ScoredTransaction",
    "TransactionView",
    "Verdict",
]


class Verdict(StrEnum):
    FRAUD = "fraud"
    LEGIT = "legit"


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transaction_id: Id
    verdict: Verdict
    analyst: Name | None = None
    note: Text | None = None
    block: list[Literal["customer", "device"]] = Field(
        default_factory=list,
        max_length=2,
        description="With a fraud verdict: put the payment's customer and/or device on the block lists "
        "(blocked_customers, blocked_devices; created when missing).",
    )
    block_days: float | None = Field(
        None, gt=0, le=36_500, description="How long they stay blocked (default: for good)."
    )

    @model_validator(mode="after")
    def _block_needs_fraud(self) -> ReviewRequest:
        if self.block and self.verdict is not Verdict.FRAUD:
            raise ValueError("block goes with a fraud verdict")
        return self


class ReviewView(BaseModel):
    verdict: str
    analyst: str | None
    note: str | None
    created_at: datetime
    key_id: str | None = Field(None, description="The API key that gave it (the start of its digest).")


class LabelView(Label):
    key_id: str | None = Field(None, description="The API key that gave it (the start of its digest).")


class ScoredTransaction(BaseModel):
    transaction: Transaction
    decision: Decision


class TransactionView(BaseModel):
    transaction: Transaction
    decision: Decision | None
    labels: list[LabelView]
    reviews: list[ReviewView]


class DecisionPage(BaseModel):
    items: list[ScoredTransaction]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


class CustomerView(BaseModel):
    customer_id: str
    as_of: datetime
    features: dict[str, float | None] = Field(description="The customer's feature values as of now.")
    recent: list[ScoredTransaction]


class ModelView(BaseModel):
    version: str
    created_at: str | None
    features: list[dict[str, Any]]
    thresholds: dict[str, Any]
    training: dict[str, Any]
    metrics: dict[str, Any]
