"""Rules and lists: read them (scope read), change them (scope admin).

A new ruleset is checked against the model's features and the lists before it is
stored; a ruleset with a problem is refused whole (422, each problem with its rule,
line and column). Every process puts a change in force at its next batch boundary.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from fraudstream.api.answers import AUTH, answers
from fraudstream.api.bodies import one_of, parsed
from fraudstream.api.dependencies import get_service, json_body, require
from fraudstream.decide.service import DecisionService
from fraudstream.rules.document import Rule, RulesetDocument, RulesetError
from fraudstream.rules.lists import LIST_NAME, ListAction, ListKind, changes, normalised
from fraudstream.store.policies import UnknownListError

router = APIRouter(prefix="/v1", tags=["rules"], responses=answers(*AUTH))

Service = Annotated[DecisionService, Depends(get_service)]
ListName = Annotated[str, StringConstraints(pattern=LIST_NAME)]
Value = Annotated[str, StringConstraints(min_length=1, max_length=128)]
MAX_VALUES = 1_000
#: Days of stored history before a dashboard backtest's window that warm its features.
WARM_DAYS = 30
#: Beyond this many stored transactions a backtest belongs to the CLI, not to a request.
MAX_BACKTEST = 2_000_000


class RuleHits(BaseModel):
    hour: int = Field(description="Decisions it fired on in the last hour.")
    day: int = Field(description="... in the last 24 hours.")


class ListTier(BaseModel):
    name: str
    action: str


class RulesetView(BaseModel):
    version: int | None = Field(description="The version in force; None: no ruleset stored.")
    created_at: datetime | None = None
    source: str | None = Field(None, description='"api", or "file:NAME" for a file loaded at start.')
    rules: list[Rule]
    lists: list[ListTier] = Field(description="Lists with an allow or block tier, applied before the rules.")
    error: str | None = Field(None, description="Why the latest stored ruleset is not in force here, if it is not.")
    hits: dict[str, RuleHits] = Field(description="By rule (lists as list.NAME): stored decisions it fired on.")


class BacktestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: RulesetDocument = Field(description="The ruleset to try (e.g. the one in force plus a new rule).")
    days: int = Field(7, ge=1, le=90, description="The stored days to count (the 30 before warm the features).")
    review_cost: float = Field(0.0, ge=0)
    customer_value: float = Field(0.0, ge=0, description="What declining a good customer's payment loses.")


class RulesetSaved(BaseModel):
    version: int | None = Field(description="The new version; None for a dry run.")
    rules: int = Field(description="Enabled rules compiled.")


class ListView(BaseModel):
    name: str
    kind: str
    action: str | None
    description: str
    created_at: datetime
    entries: int = Field(description="Entries in force now (not expired).")


class ListEntryView(BaseModel):
    value: str
    expires_at: datetime | None
    added_at: datetime
    note: str | None
    key_id: str | None


class ListEntriesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: list[Value] = Field(min_length=1, max_length=MAX_VALUES)
    kind: ListKind | None = Field(None, description="Needed when the list does not exist yet: it is created.")
    action: ListAction | None = Field(
        None, description="For a new list: an allow or block tier of its own (change it with PATCH /v1/lists/{name})."
    )
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    expires_at: AwareDatetime | None = None
    expires_in_days: float | None = Field(None, gt=0, le=36_500)
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


@router.get("/rules", response_model=RulesetView, dependencies=[Depends(require("read"))])
def get_rules(service: Service) -> RulesetView:
    """The ruleset in force in this process, and the lists that act as tiers."""
    rules = service.rules
    policies = service.store.policies
    stored = policies.ruleset(rules.policy.version) if rules.policy.version is not None else None
    now = datetime.now(UTC)
    hour, day = (_by_rule(policies.rule_hits(now - span)) for span in (timedelta(hours=1), timedelta(days=1)))
    return RulesetView(
        hits={rule: RuleHits(hour=hour.get(rule, 0), day=n) for rule, n in day.items()},
        version=rules.policy.version,
        created_at=None if stored is None else stored.created_at,
        source=None if stored is None else stored.source,
        rules=list(rules.policy.document.rules),
        lists=[
            ListTier(name=c.rule.id.removeprefix("list."), action=c.rule.action_name)
            for c in rules.policy.rules
            if c.rule.id.startswith("list.")
        ],
        error=rules.error,
    )


def _by_rule(hits: dict[tuple[str, str], int]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for (rule, _), n in hits.items():
        counted[rule] = counted.get(rule, 0) + n
    return counted


@router.put(
    "/rules",
    response_model=RulesetSaved,
    dependencies=[Depends(require("admin")), Depends(json_body)],
    responses=answers(415, 413),
    openapi_extra=one_of("RulesetDocument"),
)
async def put_rules(
    request: Request,
    service: Service,
    dry_run: Annotated[bool, Query(description="Check only: nothing is stored.")] = False,
) -> RulesetSaved:
    """Replace the ruleset: checked whole, stored as a new version (unless it is the one in force),
    in force at the next batch."""
    document = parsed(RulesetDocument, await request.body())
    key_id = getattr(request.state, "key_id", None)
    return await run_in_threadpool(_save_rules, service, document, dry_run, key_id)


def _save_rules(service: DecisionService, document: RulesetDocument, dry_run: bool, key_id: str | None) -> RulesetSaved:
    try:
        service.rules.check(document)
        if dry_run:
            return RulesetSaved(version=None, rules=sum(rule.enabled for rule in document.rules))
        version = service.rules.save_if_changed(document, "api", key_id)
    except RulesetError as exc:
        raise _rule_errors(document, exc, ("body", "rules")) from None
    service.refresh_rules()
    return RulesetSaved(version=version, rules=sum(rule.enabled for rule in document.rules))


def _rule_errors(document: RulesetDocument, exc: RulesetError, at: tuple[str, ...]) -> RequestValidationError:
    """A 422 naming each problem's rule by its place in the body, with line and column."""
    index = {rule.id: i for i, rule in enumerate(document.rules)}
    return RequestValidationError(
        [
            {
                "loc": (*at, index[p.rule], p.field or "when") if p.rule in index else at,
                "msg": str(p),
                "type": "rule_invalid",
            }
            for p in exc.problems
        ]
    )


@router.post(
    "/rules/backtest",
    dependencies=[Depends(require("admin")), Depends(json_body)],
    responses=answers(413, 415, _413="Too many stored transactions in the window; use `fraudstream backtest`"),
    openapi_extra=one_of("BacktestRequest"),
)
async def post_backtest(request: Request, service: Service) -> dict[str, Any]:
    """Try a ruleset on the stored history of the last `days` (features warmed on the 30 days
    before): what it, the ruleset in force and the model alone would have done. Nothing changes."""
    body = parsed(BacktestRequest, await request.body())
    return await run_in_threadpool(_backtest, service, body)


def _backtest(service: DecisionService, body: BacktestRequest) -> dict[str, Any]:
    from fraudstream.io.stored import stored_count, stored_dataset
    from fraudstream.rules.backtest import backtest

    rules = service.rules
    try:
        tested = rules.check(body.rules)
    except RulesetError as exc:
        raise _rule_errors(body.rules, exc, ("body", "rules", "rules")) from None
    now = datetime.now(UTC)
    since = now - timedelta(days=body.days)
    if stored_count(service.store, since - timedelta(days=WARM_DAYS)) > MAX_BACKTEST:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"more than {MAX_BACKTEST:,} stored transactions")
    dataset = stored_dataset(service.store, since - timedelta(days=WARM_DAYS))
    policies = {"tested": tested}
    if rules.policy.rules:
        policies["in force"] = rules.policy
    result = backtest(service.model, dataset, policies, "tested", rules.lists, since=since, as_of=now)
    return result.to_json(body.review_cost, body.customer_value)


@router.get("/lists", response_model=list[ListView], dependencies=[Depends(require("read"))])
def get_lists(service: Service) -> list[ListView]:
    """Every list, with how many entries are in force."""
    return [ListView(**vars(info)) for info in service.store.policies.lists()]


@router.get(
    "/lists/{name}/entries",
    response_model=list[ListEntryView],
    dependencies=[Depends(require("read"))],
    responses=answers(404),
)
def get_entries(name: ListName, service: Service, expired: bool = False) -> list[ListEntryView]:
    """A list's entries (with `expired=true`, those past their expiry too)."""
    try:
        return [ListEntryView(**vars(e)) for e in service.store.policies.entries(name, include_expired=expired)]
    except UnknownListError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such list") from None


@router.post(
    "/lists/{name}/entries",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require("admin")), Depends(json_body)],
    responses=answers(404, 413, 415, _404="No such list, and no kind given to create it"),
    openapi_extra=one_of("ListEntriesRequest"),
)
async def post_entries(name: ListName, request: Request, service: Service) -> dict[str, Any]:
    """Add values to a list (created if `kind` is given); one already there gets the new expiry."""
    body = parsed(ListEntriesRequest, await request.body())
    key_id = getattr(request.state, "key_id", None)
    return await run_in_threadpool(_add_entries, service, name, body, key_id)


def _add_entries(service: DecisionService, name: str, body: ListEntriesRequest, key_id: str | None) -> dict[str, Any]:
    policies = service.store.policies
    info = policies.list_info(name)
    if info is None and body.kind is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such list; give its kind to create it")
    if info is not None and (why := changes(name, info.kind, info.action, body.kind, body.action)):
        field = "kind" if body.kind is not None and body.kind != info.kind else "action"
        raise HTTPException(status.HTTP_409_CONFLICT, [{"loc": ["body", field], "msg": why, "type": "list_differs"}])
    kind = info.kind if info is not None else body.kind or ""
    values, errors = [], []
    for i, value in enumerate(body.values):
        try:
            values.append(normalised(kind, value))
        except ValueError as exc:
            errors.append({"loc": ("body", "values", i), "msg": str(exc), "type": "value_error"})
    expires = body.expires_at
    if expires is None and body.expires_in_days is not None:
        expires = datetime.now(UTC) + timedelta(days=body.expires_in_days)
    if expires is not None and expires <= datetime.now(UTC):
        errors.append({"loc": ("body", "expires_at"), "msg": "is already past", "type": "value_error"})
    if errors:
        raise RequestValidationError(errors)
    if info is None:
        policies.create_list(name, kind, body.action, body.description)
    added = policies.add_entries(name, values, expires, body.note, key_id)
    service.refresh_rules()
    return {"list": name, "added": added, "updated": len(set(values)) - added}


class ListChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: ListAction | None = Field(description="allow or block a match before the rules; null: used by rules only.")


@router.patch(
    "/lists/{name}",
    response_model=ListView,
    dependencies=[Depends(require("admin")), Depends(json_body)],
    responses=answers(404, 415),
    openapi_extra=one_of("ListChange"),
)
async def change_list(name: ListName, request: Request, service: Service) -> ListView:
    """Change what a list does: an allow or block tier, or used by rules only."""
    change = parsed(ListChange, await request.body())
    return await run_in_threadpool(_change_list, service, name, change)


def _change_list(service: DecisionService, name: str, change: ListChange) -> ListView:
    try:
        service.store.policies.set_action(name, change.action)
    except UnknownListError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such list") from None
    service.refresh_rules()
    info = service.store.policies.list_info(name)
    assert info is not None
    return ListView(**vars(info))


@router.delete(
    "/lists/{name}/entries",
    dependencies=[Depends(require("admin"))],
    responses=answers(404),
)
def delete_entries(
    name: ListName,
    service: Service,
    value: Annotated[list[Value], Query(min_length=1, max_length=MAX_VALUES, description="Values to remove.")],
) -> dict[str, Any]:
    """Remove values from a list."""
    info = service.store.policies.list_info(name)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such list")
    values = []
    for v in value:
        try:
            values.append(normalised(info.kind, v))
        except ValueError:
            continue  # a value the list cannot hold is not in it
    try:
        removed = service.store.policies.remove_entries(name, values)
    except UnknownListError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such list") from None
    service.refresh_rules()
    return {"list": name, "removed": removed}
