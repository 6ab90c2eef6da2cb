"""Reasons for people: the features that pushed a score the most, in words."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fraudstream.features.definitions import FeatureSet
from fraudstream.schema import Reason

__all__ = ["top_reasons"]

FloatArray = npt.NDArray[np.float64]


def top_reasons(
    features: FeatureSet,
    X: FloatArray,
    contributions: FloatArray,
    toward_fraud: npt.NDArray[np.bool_],
    n: int = 3,
) -> list[list[Reason]]:
    """For each row, the `n` features that pushed the score most in the decision's direction.

    Rows flagged as fraud get what raised their score; approved rows what lowered it.
    `contributions` are XGBoost's per-feature log-odds contributions (bias column last).
    """
    per_feature = contributions[:, : len(features.names)]
    signed = np.where(toward_fraud[:, None], per_feature, -per_feature)
    k = min(n, signed.shape[1])
    if k == 0:
        return [[] for _ in range(len(X))]
    top = np.argpartition(-signed, k - 1, axis=1)[:, :k]
    out: list[list[Reason]] = []
    for row, picks in enumerate(top):
        picks = picks[np.argsort(-signed[row, picks])]
        out.append(
            [
                Reason(
                    feature=features.names[j],
                    value=None if np.isnan(X[row, j]) else float(X[row, j]),
                    contribution=round(float(per_feature[row, j]), 4),
                    text=features.explain(features.names[j], float(X[row, j])),
                )
                for j in picks
                if signed[row, j] > 0
            ]
        )
    return out
