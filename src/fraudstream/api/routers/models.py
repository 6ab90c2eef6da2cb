"""The model registry over HTTP: the versions, the champion, the one in force here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from fraudstream.api.answers import AUTH, answers
from fraudstream.api.bodies import one_of, parsed, query_error
from fraudstream.api.dependencies import get_runtime, json_body, require
from fraudstream.lifecycle.compare import compare
from fraudstream.lifecycle.registry import Registry
from fraudstream.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["model"], responses=answers(*AUTH))


class PromotionView(BaseModel):
    version: str
    promoted_at: Any
    reason: str
    key_id: str | None


class ModelsView(BaseModel):
    in_force: str = Field(description="The version this process decides with.")
    follows_champion: bool = Field(description="Whether this process switches when another version is promoted.")
    champion: str | None
    challenger: str | None = Field(None, description="The version scored in shadow beside every decision.")
    error: str | None = Field(None, description="Why the champion (or challenger) is not in force here, if it is not.")
    versions: list[dict[str, Any]] = Field(description="Registered versions, newest first, with their figures.")
    history: list[PromotionView] = Field(description="Promotions, latest first.")


@router.get("/models", response_model=ModelsView, dependencies=[Depends(require("read"))])
def get_models(runtime: Annotated[Runtime, Depends(get_runtime)]) -> ModelsView:
    """Registered model versions, the champion and its history, and the version in force here."""
    service = runtime.service
    registry = Registry(runtime.settings.models_dir)
    following, challengers = service.models, service.challengers
    errors = [e for e in (following and following.error, challengers and challengers.error) if e]
    return ModelsView(
        in_force=service.version,
        follows_champion=following is not None,
        champion=service.store.champions.champion(),
        challenger=service.store.champions.challenger(),
        error="; ".join(errors) or None,
        versions=[entry.summary() for entry in registry.versions()],
        history=[PromotionView(**vars(p)) for p in service.store.champions.history(50)],
    )


class ChallengerChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(description="A registered version to score in shadow; null: none.")


@router.put(
    "/models/challenger",
    dependencies=[Depends(require("admin")), Depends(json_body)],
    responses=answers(404, 409, 415, _404="No such registered version", _409="The version is the champion"),
    openapi_extra=one_of("ChallengerChange"),
)
async def put_challenger(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> dict[str, Any]:
    """Score every batch in shadow with this version too (every process, from its next batch)."""
    change = parsed(ChallengerChange, await request.body())
    registry = Registry(runtime.settings.models_dir)
    if change.version is not None and change.version not in {m.version for m in registry.versions()}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such registered version")
    if change.version is not None and change.version == runtime.service.store.champions.champion():
        where = {
            "loc": ["body", "version"],
            "msg": "is the champion: a challenger is another version",
            "type": "champion",
        }
        raise HTTPException(status.HTTP_409_CONFLICT, [where])
    key_id = getattr(request.state, "key_id", None)
    await run_in_threadpool(runtime.service.store.champions.set_challenger, change.version, "api", key_id)
    return {"challenger": change.version}


@router.get("/models/compare", dependencies=[Depends(require("read"))])
def compare_models(
    runtime: Annotated[Runtime, Depends(get_runtime)],
    since: Annotated[datetime | None, Query(description="From (ISO 8601, with a zone); default: 7 days ago.")] = None,
    version: Annotated[str | None, Query(max_length=80, description="A challenger (default: the one now).")] = None,
) -> dict[str, Any]:
    """The champion against a challenger on the payments both scored: agreement, score
    correlation, outcomes, and on matured labels average precision and fraud money caught."""
    service = runtime.service
    chosen = version or service.store.champions.challenger()
    if chosen is None:
        return {"challenger": None, "payments": 0}
    if since is not None and since.tzinfo is None:
        raise query_error("since", "give a timezone (e.g. 2026-01-01T00:00:00Z)", "timezone_missing")
    start = since or datetime.now(UTC) - timedelta(days=7)
    return compare(service.store, chosen, start, service.model.features.label_delay_days)
