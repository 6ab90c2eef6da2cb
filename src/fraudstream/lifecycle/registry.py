"""The model registry: a directory of model versions (`FRAUDSTREAM_MODELS`, default
`var/models/`), one folder per version as `Model.save` writes it.

Which version is the champion is kept in the database (`store/champions.py`), not here:
every process reads it from there, and its history makes a rollback one step.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudstream.model.artifact import MANIFEST_FILE, Model, ModelLoadError

__all__ = ["RegisteredModel", "Registry", "UnknownVersionError"]


class UnknownVersionError(ModelLoadError, LookupError):
    """No such version in the registry."""


@dataclass(frozen=True)
class RegisteredModel:
    version: str
    path: Path
    created_at: str | None
    training: dict[str, Any]
    metrics: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        validation = self.metrics.get("validation", self.metrics)
        return {
            "version": self.version,
            "created_at": self.created_at,
            "training": {k: self.training.get(k) for k in ("source", "rows", "frauds", "start", "end")},
            "average_precision": validation.get("average_precision"),
            "roc_auc": validation.get("roc_auc"),
        }


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root

    def versions(self) -> list[RegisteredModel]:
        """Every registered version, newest first (by creation time)."""
        found = []
        if self.root.is_dir():
            for folder in self.root.iterdir():
                manifest = folder / MANIFEST_FILE
                if not manifest.is_file():
                    continue
                try:
                    data = json.loads(manifest.read_text())
                except (OSError, json.JSONDecodeError):
                    continue
                if data.get("version") != folder.name:
                    continue  # a model saved elsewhere under another name: not registered here
                found.append(
                    RegisteredModel(
                        folder.name, folder, data.get("created_at"), data.get("training", {}), data.get("metrics", {})
                    )
                )
        return sorted(found, key=lambda m: m.created_at or "", reverse=True)

    def get(self, version: str) -> RegisteredModel:
        for model in self.versions():
            if model.version == version:
                return model
        raise UnknownVersionError(f"no version {version!r} in the registry {self.root} (`fraudstream models list`)")

    def load(self, version: str) -> Model:
        return Model.load(self.get(version).path)

    def add(self, directory: Path) -> str:
        """Register a trained model (a folder `fraudstream train --out` wrote): copied in under its
        version; registering the same version again changes nothing. Its version."""
        model = Model.load(directory)  # checked whole before anything is copied
        version = model.version
        target = self.root / version
        if (target / MANIFEST_FILE).is_file():
            return version
        if target.exists():
            raise ModelLoadError(f"{target} exists but holds no model: remove it first")
        staging = self.root / f".{version}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(directory, staging)
        staging.rename(target)  # whole or not at all
        return version
