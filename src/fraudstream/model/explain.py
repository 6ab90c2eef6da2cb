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
    order = np.argsort(-np.take_along_axis(signed, top, axis=1), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    # Plain Python values from here: per-element numpy access costs more than the rest.
    names = features.names
    values = np.take_along_axis(X, top, axis=1).tolist()
    pushes = np.take_along_axis(per_feature, top, axis=1).round(4).tolist()
    keep = (np.take_along_axis(signed, top, axis=1) > 0).tolist()
    out: list[list[Reason]] = []
    for picks, row_values, row_pushes, row_keep in zip(top.tolist(), values, pushes, keep, strict=True):
        out.append(
            [
                Reason(names[j], None if value != value else value, push, features.explain(names[j], value))
                for j, value, push, kept in zip(picks, row_values, row_pushes, row_keep, strict=True)
                if kept
            ]
        )
    return out
