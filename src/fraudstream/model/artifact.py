"""A trained model on disk: XGBoost's own format plus a JSON manifest. No pickle.

models/NAME/
  model.ubj        the booster (XGBoost UBJSON)
  manifest.json    feature names and order, encoders, thresholds, training window,
                   data fingerprint, metrics, parameters, library versions
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from fraudstream import __version__
from fraudstream.features.definitions import FEATURES, INPUTS, FeatureSet, FeatureSetMismatchError
from fraudstream.model.thresholds import Thresholds
from fraudstream.model.trees import TreeEnsemble
from fraudstream.schema import SCHEMA_VERSION, Outcome

__all__ = ["FORMAT", "FORMAT_VERSION", "Model", "ModelLoadError"]

FORMAT: Final = "fraudstream-model"
#: 2: the version covers everything that changes a decision, checked at load.
FORMAT_VERSION: Final = 2
MODEL_FILE: Final = "model.ubj"
MANIFEST_FILE: Final = "manifest.json"

FloatArray = npt.NDArray[np.float64]


class ModelLoadError(ValueError):
    """The artifact is missing, damaged, or does not fit this code or this data."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _decision_sha256(raw: bytes, decides: dict[str, Any]) -> str:
    """A digest of everything that changes a decision: the booster, and the manifest's
    features (names, encoders, label delay, norms), thresholds and imputation."""
    digest = hashlib.sha256(raw)
    digest.update(json.dumps(decides, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    import numpy
    import pandas
    import sklearn

    return {
        "fraudstream": __version__,
        "xgboost": xgb.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


@dataclass
class Model:
    """A booster with everything needed to use it: features, thresholds, provenance."""

    booster: xgb.Booster
    features: FeatureSet
    thresholds: Thresholds
    info: dict[str, Any] = field(default_factory=dict)
    impute: dict[str, float] | None = None  # training medians, when the model was trained on imputed data
    threads: int = 0  # XGBoost threads per call (0: all cores)

    def serve_single_threaded(self) -> None:
        """Ready to score live batches: XGBoost on one thread per call (for small batches,
        thread start-up costs more than it saves) and the compiled trees loaded now
        rather than on the first transaction."""
        self.threads = 1
        self.booster.set_param({"nthread": 1})
        self.scores_and_fast_contributions(np.full((1, len(self.features.names)), np.nan))

    @cached_property
    def trees(self) -> TreeEnsemble | None:
        """The booster compiled for batch scoring; None where it is not one `TreeEnsemble` covers."""
        return TreeEnsemble.from_booster(self.booster)

    @property
    def version(self) -> str:
        return str(self.info.get("version", "unsaved"))

    def _matrix(self, X: FloatArray) -> FloatArray:
        if X.shape[1] != len(self.features.names):
            raise ValueError(f"expected {len(self.features.names)} features, got {X.shape[1]}")
        if self.impute:
            medians = np.array([self.impute.get(n, np.nan) for n in self.features.names])
            X = np.where(np.isnan(X), medians, X)
        return X

    def predict(self, X: FloatArray) -> FloatArray:
        """Fraud probability per row (no DMatrix, no DataFrame: straight from the array)."""
        if len(X) == 0:
            return np.empty(0)
        return np.asarray(self.booster.inplace_predict(self._matrix(X), validate_features=False), dtype=np.float64)

    def scores_and_fast_contributions(self, X: FloatArray) -> tuple[FloatArray, FloatArray]:
        """A live batch's scores and approximate contributions: the values of `predict`
        and `contributions(exact=False)`, from the compiled trees where they cover the
        booster (far cheaper for a small batch, see `trees`)."""
        if self.trees is None:
            return self.predict(X), self.contributions(X, exact=False)
        return self.trees.scores_and_contributions(self._matrix(X))

    def matrix(self, X: FloatArray) -> xgb.DMatrix:
        """A DMatrix for `contributions`.

        No feature names on it: the booster has them, and naming costs more than predicting.
        """
        return xgb.DMatrix(self._matrix(X), missing=np.nan, nthread=self.threads)

    def contributions(self, X: FloatArray | xgb.DMatrix, exact: bool = True) -> FloatArray:
        """Per-feature log-odds contributions, bias in the last column.

        exact: TreeSHAP; otherwise XGBoost's approximation (Saabas), far cheaper.
        """
        matrix = X if isinstance(X, xgb.DMatrix) else self.matrix(X)
        contributions = self.booster.predict(
            matrix, pred_contribs=True, approx_contribs=not exact, validate_features=False
        )
        return np.asarray(contributions, dtype=np.float64)

    def outcomes(self, scores: FloatArray) -> npt.NDArray[np.object_]:
        out = np.empty(len(scores), dtype=object)
        out[:] = Outcome.APPROVE  # not np.full: it would store the plain string "approve"
        out[scores >= self.thresholds.review] = Outcome.REVIEW
        out[scores >= self.thresholds.decline] = Outcome.DECLINE
        return out

    def check_inputs(self, inputs: frozenset[str] | set[str], extras: tuple[str, ...] = ()) -> None:
        """Fail clearly if the data lacks what the model's features are computed from."""
        problems = []
        for need, column in INPUTS.items():
            needing = [n for n in self.features.engineered if need in FEATURES[n].requires]
            if needing and need not in inputs:
                problems.append(f"{column} (for {', '.join(needing[:3])}{', ...' if len(needing) > 3 else ''})")
        missing_extras = [e for e in self.features.extras if e not in extras]
        if missing_extras:
            problems.append(f"the extra fields {', '.join(missing_extras)}")
        if problems:
            raise ModelLoadError(f"model {self.version} needs data the input does not have: {'; '.join(problems)}")

    # -- persistence --------------------------------------------------------------

    def _decides(self) -> dict[str, Any]:
        """What of the manifest changes a decision, as saved (and read back) in JSON."""
        return {"features": self.features.to_json(), "thresholds": self.thresholds.to_json(), "impute": self.impute}

    def save(self, directory: Path, name: str | None = None) -> Path:
        """Write the model; its version names the directory and a digest of all that decides."""
        directory.mkdir(parents=True, exist_ok=True)
        raw = bytes(self.booster.save_raw("ubj"))
        decides = json.loads(json.dumps(self._decides(), default=str))  # as it will be read back
        digest = _decision_sha256(raw, decides)
        name = name or directory.name
        self.info = {**self.info, "name": name, "version": f"{name}-{digest[:10]}"}
        (directory / MODEL_FILE).write_bytes(raw)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            **self.info,
            "model_file": MODEL_FILE,
            "model_sha256": _sha256(raw),
            "decision_sha256": digest,
            **decides,
            "libraries": library_versions(),
        }
        (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        return directory

    @classmethod
    def load(cls, directory: Path) -> Model:
        manifest_path = directory / MANIFEST_FILE
        if directory.is_file():
            raise ModelLoadError(f"{directory} is a file: give the model's directory, which holds {MANIFEST_FILE}")
        if not manifest_path.exists():
            raise ModelLoadError(
                f"{directory} is not a fraudstream model: no {MANIFEST_FILE} (train one with `fraudstream train`)"
            )
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"{manifest_path} is not valid JSON: {exc}") from None
        if manifest.get("format") != FORMAT:
            raise ModelLoadError(f"{manifest_path} is not a fraudstream model manifest")
        if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelLoadError(
                f"{directory} was written by a newer fraudstream "
                f"(format {manifest['format_version']}); upgrade fraudstream"
            )
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise ModelLoadError(
                f"{directory} was trained on wire schema {manifest.get('schema_version')}, this code speaks "
                f"{SCHEMA_VERSION}: retrain it"
            )
        model_path = directory / str(manifest.get("model_file", MODEL_FILE))
        if not model_path.exists():
            raise ModelLoadError(f"{directory}: the booster file {model_path.name} is missing")
        raw = model_path.read_bytes()
        if _sha256(raw) != manifest.get("model_sha256"):
            raise ModelLoadError(f"{model_path} does not match its manifest (damaged or replaced)")
        try:
            features = FeatureSet.from_json(manifest["features"])
        except FeatureSetMismatchError as exc:
            raise ModelLoadError(f"{directory}: {exc}") from None
        decides = {key: manifest.get(key) for key in ("features", "thresholds", "impute")}
        if int(manifest.get("format_version", 0)) >= 2 and _decision_sha256(raw, decides) != manifest.get(
            "decision_sha256"
        ):
            raise ModelLoadError(
                f"{manifest_path}: its features, thresholds or imputation changed after the model was saved, so "
                "its version no longer names what decides; restore it, or set thresholds with "
                "`fraudstream thresholds`, which saves a new version"
            )
        booster = xgb.Booster()
        booster.load_model(bytearray(raw))
        if booster.num_features() != len(features.names) or list(booster.feature_names or []) != list(features.names):
            raise ModelLoadError(f"{directory}: the booster's features do not match the manifest's")
        skip = {
            "format",
            "format_version",
            "schema_version",
            "model_file",
            "model_sha256",
            "decision_sha256",
            "features",
        }
        info = {k: v for k, v in manifest.items() if k not in skip | {"thresholds", "impute"}}
        return cls(
            booster=booster,
            features=features,
            thresholds=Thresholds.from_json(manifest["thresholds"]),
            info=info,
            impute=manifest.get("impute"),
        )
