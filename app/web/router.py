"""The browser pages, their static files, and an error page for any other page address."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.convertors import Convertor, register_url_convertor

from app.web import audit_pages, console_pages, public_pages
from app.web.errors import PageRoute, error_page
from app.web.session import PageViewer
from app.web.templating import STATIC_DIR


class PagePathConvertor(Convertor[str]):
    """Any path but those of the API, the sockets, static files, health checks and docs."""

    regex = r"(?!(api|ws|static|\.well-known|healthz|readyz|docs|redoc|openapi\.json)(/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("page", PagePathConvertor())


class RevalidatedStaticFiles(StaticFiles):
    """Static files the browser asks about again each time (a cheap 304), so no stale script
    outlives an upgrade: the modules import each other by plain URLs, with no version."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


router = APIRouter(include_in_schema=False)
router.mount("/static", RevalidatedStaticFiles(directory=STATIC_DIR), name="static")
router.include_router(public_pages.router)
router.include_router(console_pages.router)
router.include_router(audit_pages.router)

_fallback = APIRouter(route_class=PageRoute, include_in_schema=False)


@_fallback.get("/{path:page}")
async def no_such_page(request: Request, path: str, viewer: PageViewer) -> Response:
    """A page address that does not exist: the 404 page, in the reader's language."""
    return error_page(request, 404, "page_not_found")


router.include_router(_fallback)
