"""The model registry over HTTP: the versions, the champion, the one in force here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from fraudstream.api.answers import AUTH, answers
from fraudstream.api.dependencies import get_runtime, require
from fraudstream.lifecycle.registry import Registry
from fraudstream.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["model"], dependencies=[Depends(require("read"))], responses=answers(*AUTH))


class PromotionView(BaseModel):
    version: str
    promoted_at: Any
    reason: str
    key_id: str | None


class ModelsView(BaseModel):
    in_force: str = Field(description="The version this process decides with.")
    follows_champion: bool = Field(description="Whether this process switches when another version is promoted.")
    champion: str | None
    error: str | None = Field(None, description="Why the champion is not in force here, if it is not.")
    versions: list[dict[str, Any]] = Field(description="Registered versions, newest first, with their figures.")
    history: list[PromotionView] = Field(description="Promotions, latest first.")


@router.get("/models", response_model=ModelsView)
def get_models(runtime: Annotated[Runtime, Depends(get_runtime)]) -> ModelsView:
    """Registered model versions, the champion and its history, and the version in force here."""
    service = runtime.service
    registry = Registry(runtime.settings.models_dir)
    following = service.models
    return ModelsView(
        in_force=service.version,
        follows_champion=following is not None,
        champion=service.store.champions.champion(),
        error=None if following is None else following.error,
        versions=[entry.summary() for entry in registry.versions()],
        history=[PromotionView(**vars(p)) for p in service.store.champions.history(50)],
    )
