"""Request bodies: one object or a list of them, their documentation, and 422 errors
that name the field and the problem without echoing what was sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from fraudstream.schema import ECHOED, shortened

__all__ = [
    "body_error",
    "brief",
    "document_bodies",
    "one_of",
    "one_or_many",
    "parsed",
    "query_error",
    "validation_error",
]

M = TypeVar("M", bound=BaseModel)

#: The most of a validator's message an error returns.
LONGEST_MESSAGE: Final = 200
#: The most errors a 422 lists.
MOST_ERRORS: Final = 50


def one_of(schema: str) -> dict[str, Any]:
    """OpenAPI for a body that is one `schema` object (FastAPI's `openapi_extra`)."""
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def one_or_many(schema: str) -> dict[str, Any]:
    """OpenAPI for a body that is a `schema` object or an array of them (FastAPI's `openapi_extra`)."""
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [ref, {"type": "array", "items": ref}]}}},
        }
    }


def document_bodies(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Add the schemas of bodies read by hand (after the key is checked, so FastAPI never
    sees them) to the app's OpenAPI components, for `one_or_many` and the like to refer to."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                own = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(own.pop("$defs", {}))
                components[model.__name__] = own
        return app.openapi_schema or default()

    app.openapi = openapi  # type: ignore[method-assign]


def parsed(model: type[M], body: bytes) -> M:
    """A body read by hand as `model`; a 422 like FastAPI's own if it is not one."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise body_error(exc) from None


def body_error(exc: ValidationError) -> RequestValidationError:
    """A pydantic error as FastAPI's 422, with locations starting at "body" like its own."""
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)])


def query_error(name: str, message: str, kind: str) -> RequestValidationError:
    """A 422 for a query parameter that parsed but cannot be used."""
    return RequestValidationError([{"loc": ("query", name), "msg": message, "type": kind}])


def brief(value: str) -> str:
    """A value a message may repeat: quoted, and cut short."""
    return repr(shortened(value))


def _place(part: object) -> int | str:
    """One step of an error's location. A field name may be one the client made up (an
    unknown key, an `extra` name): printable characters only, cut short."""
    if isinstance(part, int):
        return part
    return shortened("".join(c if c.isprintable() else "?" for c in str(part)[: ECHOED + 1]))


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 with each error's location, message and type, never the input: it may be huge,
    personal, or not even serialisable (NaN, bytes that are not UTF-8). At most
    `MOST_ERRORS` of them: a body of made-up keys must not get an answer larger than itself."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    detail: list[dict[str, Any]] = [
        {
            "loc": [_place(part) for part in e.get("loc", ())],
            "msg": str(e.get("msg", ""))[:LONGEST_MESSAGE],
            "type": e.get("type"),
        }
        for e in errors[:MOST_ERRORS]
    ]
    if len(errors) > MOST_ERRORS:
        detail.append(
            {"loc": ["body"], "msg": f"and {len(errors) - MOST_ERRORS} more errors", "type": "too_many_errors"}
        )
    return JSONResponse({"detail": detail}, status_code=422)
