"""Files shaped like the public ULB credit-card data set, to try `--preset ulb` without it.

The real file (Kaggle "creditcard.csv") has Time (seconds from the first row, two
days), V1..V28 (anonymised PCA components), Amount and Class (1 = fraud, 0.17 %).
Here the components are Gaussian, and frauds shift the ones that carry the signal in
the real data (V4, V10, V11, V12, V14, V17) — enough to exercise the pipeline, not a
claim about the real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ulb_like"]

_FRAUD_SHIFT = {"V4": 2.5, "V10": -3.0, "V11": 2.0, "V12": -3.5, "V14": -4.0, "V17": -3.0}


def ulb_like(rows: int = 284_807, fraud_rate: float = 0.00172, seed: int = 0, days: float = 2.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fraud = rng.random(rows) < fraud_rate
    time = np.sort(rng.uniform(0, days * 86_400, rows)).round()
    frame = pd.DataFrame({"Time": time - time[0]})
    for i in range(1, 29):
        name = f"V{i}"
        values = rng.normal(0.0, 1.0, rows)
        shift = _FRAUD_SHIFT.get(name, 0.0)
        # Not every fraud shows every signal: each shift applies to most of them, not all.
        values += np.where(fraud & (rng.random(rows) < 0.7), shift * rng.uniform(0.5, 1.5, rows), 0.0)
        frame[name] = values.round(6)
    frame["Amount"] = np.round(np.exp(rng.normal(3.0, 1.3, rows)) * np.where(fraud, 1.6, 1.0), 2)
    frame["Class"] = fraud.astype(int)
    return frame
