"""Reasons for people: the features that pushed a score the most, in words, against a norm."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import numpy.typing as npt

from fraudstream.features.definitions import FeatureSet
from fraudstream.schema import Reason

__all__ = ["LOWERING", "top_reasons"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: How a reason that lowered the score begins, so that nobody reads it as a risk.
LOWERING: Final = "lowering risk: "
#: Candidates looked at per reason wanted: some are left out (a duplicate text, an
#: entity the payment lacks).
CANDIDATES_PER_REASON: Final = 3


def top_reasons(
    features: FeatureSet,
    X: FloatArray,
    contributions: FloatArray,
    flagged: BoolArray,
    present: Mapping[str, BoolArray],
    n: int = 3,
) -> list[list[Reason]]:
    """For each row, the `n` features that pushed its score most in the direction it went.

    Flagged rows, and approved rows that still score above an average payment (their
    contributions sum above zero), get what raised their score; other approvals what
    lowered it, each text beginning with `LOWERING`. A reason is never about an entity
    or location the payment lacks (`present`: per input, which rows have it), never
    repeats a text, and never states a fact that reads the other way (a known fraud
    as lowering risk). `contributions` are log-odds contributions, bias column last.
    """
    per_feature = contributions[:, : len(features.names)]
    raising = flagged | (per_feature.sum(axis=1) > 0)
    signed = np.where(raising[:, None], per_feature, -per_feature)
    k = min(CANDIDATES_PER_REASON * n, signed.shape[1])
    if k == 0 or n == 0:
        return [[] for _ in range(len(X))]
    top = np.argpartition(-signed, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(signed, top, axis=1), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    # Plain Python values from here: per-element numpy access costs more than the rest.
    names, needs = features.names, features.needs
    values = np.take_along_axis(X, top, axis=1).tolist()
    pushes = np.take_along_axis(per_feature, top, axis=1).round(4).tolist()
    strengths = np.take_along_axis(signed, top, axis=1).tolist()
    has = {need: mask.tolist() for need, mask in present.items()}
    out: list[list[Reason]] = []
    for i, (picks, row_values, row_pushes, row_strengths) in enumerate(
        zip(top.tolist(), values, pushes, strengths, strict=True)
    ):
        reasons: list[Reason] = []
        texts: set[str] = set()
        row = features.row(X[i])
        for j, value, push, strength in zip(picks, row_values, row_pushes, row_strengths, strict=True):
            if strength <= 0 or len(reasons) == n:
                break
            if not all(has[need][i] for need in needs[j] if need in has):
                continue
            if features.reads_as(names[j], value, row) == (-1 if raising[i] else 1):
                continue  # a fact that reads the other way: the model's push on it is no reason to give
            text = features.explain(names[j], value, row)
            if text in texts:
                continue
            texts.add(text)
            reasons.append(
                Reason(names[j], None if value != value else value, push, text if raising[i] else LOWERING + text)
            )
        out.append(reasons)
    return out
