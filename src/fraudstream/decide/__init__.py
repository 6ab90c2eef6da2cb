"""Deciding: a batch scored (scorer), driven through its steps (batch), by the decision service."""

from fraudstream.decide.batch import Batch, DecideResult, OutOfOrderError, ScoredAhead, Step
from fraudstream.decide.scorer import Prepared, ScoredBatch, Scorer, judge
from fraudstream.decide.service import DecisionService

__all__ = [
    "Batch",
    "DecideResult",
    "DecisionService",
    "OutOfOrderError",
    "Prepared",
    "ScoredAhead",
    "ScoredBatch",
    "Scorer",
    "Step",
    "judge",
]
