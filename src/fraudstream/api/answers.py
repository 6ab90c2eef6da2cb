"""The answers other than success a route can give, as the OpenAPI document declares them."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, Field

__all__ = ["AUTH", "FieldErrors", "Message", "answers"]


class Message(BaseModel):
    """An error: what went wrong, never the value that was sent."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='Where: ["body", 3, "amount"] is the fourth item\'s amount.')
    msg: str
    type: str


class FieldErrors(BaseModel):
    """Errors by field, as in a 422."""

    detail: list[FieldError]


_DESCRIPTIONS: Final = {
    401: "No API key, or an unknown one",
    403: "The API key lacks the scope this route needs",
    404: "Not found",
    409: "A transaction id was decided before with another payload; the others were decided",
    413: "Too many items, or too large a body, in one request",
    415: "The body is not declared JSON",
    429: "Too many wrong keys from this client, or requests with this key: retry after the time given",
    503: "Too many requests waiting to be decided, or starting up: retry after the time given",
}
#: What any route behind an API key may answer.
AUTH: Final = (401, 403, 429)


def answers(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses` for these status codes (`described`: `_404="no such customer"`)."""
    return {
        code: {
            "model": FieldErrors if code == 409 else Message,
            "description": described.get(f"_{code}", _DESCRIPTIONS[code]),
        }
        for code in codes
    }
