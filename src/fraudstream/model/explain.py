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
    # A candidate about an entity or location its payment lacks is never a reason.
    lacking = np.zeros(top.shape, dtype=bool)
    for need, has in present.items():
        needing = features.needing(need)
        if needing.any():
            lacking |= needing[top] & ~has[:, None]
    strengths = np.where(lacking, 0.0, np.take_along_axis(signed, top, axis=1))
    # Plain Python values from here: per-element numpy access costs more than the rest.
    names, directional = features.names, features.directional
    values = np.take_along_axis(X, top, axis=1).tolist()
    pushes = np.take_along_axis(per_feature, top, axis=1).round(4).tolist()
    directions = np.where(raising, -1, 1).tolist()  # a fact reading this way contradicts the score's direction
    out: list[list[Reason]] = []
    for i, (picks, row_values, row_pushes, row_strengths, contradicting, up) in enumerate(
        zip(top.tolist(), values, pushes, strengths.tolist(), directions, raising.tolist(), strict=True)
    ):
        reasons: list[Reason] = []
        texts: set[str] = set()
        row = features.row(X[i])
        for j, value, push, strength in zip(picks, row_values, row_pushes, row_strengths, strict=True):
            if len(reasons) == n:
                break
            if strength <= 0 or (directional[j] and features.reads_as(names[j], value, row) == contradicting):
                continue
            text = features.explain(names[j], value, row)
            if text in texts:
                continue
            texts.add(text)
            reasons.append(Reason(names[j], None if value != value else value, push, text if up else LOWERING + text))
        out.append(reasons)
    return out
