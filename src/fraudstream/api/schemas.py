"""Request and response bodies of the HTTP API (the wire formats themselves are in schema.py)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
