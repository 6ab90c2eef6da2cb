"""Request bodies that are one object or a list of them: documentation and 422 errors."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

__all__ = ["body_error", "one_or_many"]


def one_or_many(schema: str) -> dict[str, Any]:
    """OpenAPI for a body that is a `schema` object or an array of them (FastAPI's `openapi_extra`)."""
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [ref, {"type": "array", "items": ref}]}}},
        }
    }


def body_error(exc: ValidationError) -> RequestValidationError:
    """A pydantic error as FastAPI's 422, with locations starting at "body" like its own."""
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)])
