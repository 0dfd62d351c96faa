"""The error model: every refusal is RFC 9457 problem+json with a stable snake_case ``code``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auction import RuleViolation

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    """A refusal the client can act on; raised by services and routers alike."""

    def __init__(
        self, status: int, code: str, detail: str, *, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra or {}


class NotFound(AppError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(404, code, detail)


class Forbidden(AppError):
    def __init__(self, detail: str = "You are not allowed to do this.") -> None:
        super().__init__(403, "forbidden", detail)


class Unauthorized(AppError):
    def __init__(self, detail: str = "Sign in first.", code: str = "not_authenticated") -> None:
        super().__init__(401, code, detail)


class Conflict(AppError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(409, code, detail)


def problem(
    status: int, code: str, detail: str, extra: dict[str, Any] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if extra:
        body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    fields = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        fields.append({"field": location, "message": error.get("msg", "invalid")})
    first = fields[0] if fields else {"field": "", "message": "invalid request"}
    summary = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return summary, fields


# Rule refusals about the amount or the parameters are the request's fault (422); the rest are
# about the lot's current state (409), except those about who may act (403).
_RULE_STATUS = {
    **dict.fromkeys(
        (
            "bid_too_low",
            "not_a_multiple_of_step",
            "raise_too_large",
            "above_cap",
            "invalid_rules",
            "invalid_amount",
            "invalid_bidder",
            "initial_bid_required",
        ),
        422,
    ),
    **dict.fromkeys(("bidder_not_qualified", "not_priority_holder"), 403),
}


def rule_error(exc: RuleViolation, **extra: Any) -> AppError:
    """The HTTP refusal for a rule's refusal, with what the client needs to try again."""
    if exc.field:
        extra["field"] = exc.field
    return AppError(_RULE_STATUS.get(exc.code, 409), exc.code, exc.message, extra=extra)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RuleViolation)
    async def _rule_violation(_: Request, exc: RuleViolation) -> JSONResponse:
        error = rule_error(exc)
        return problem(error.status, error.code, error.detail, error.extra)

    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.detail, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        summary, fields = _validation_detail(exc)
        code = (
            "malformed_json"
            if any(e.get("type") == "json_invalid" for e in exc.errors())
            else ("validation_failed")
        )
        return problem(422, code, summary, {"errors": fields})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail))
