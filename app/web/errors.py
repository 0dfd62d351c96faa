"""Error pages: a page route answers a refusal with a page in the reader's language, not JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from app.errors import AppError
from app.web import i18n
from app.web.session import SignInRequired, Viewer, WrongRole
from app.web.templating import render

logger = logging.getLogger(__name__)

_TITLES = {401: "error.401", 403: "error.403", 404: "error.404", 409: "error.409"}


def error_page(request: Request, status: int, code: str = "", detail: str = "") -> Response:
    """The error page for ``status``, explaining ``code`` when the dictionary knows it."""
    viewer = getattr(request.state, "page_viewer", None) or Viewer(None)
    known = bool(code) and i18n.has(f"err.{code}")
    context = {
        "status": status,
        "message_key": f"err.{code}" if known else "error.generic",
        "detail": "" if known else detail,
        "title_key": _TITLES.get(status, "error.other"),
    }
    return render(request, viewer, "error.html", context, status_code=status)


def sign_in_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(here, safe='')}", status_code=303)


class PageRoute(APIRoute):
    """A route whose refusals become pages: 404 and 403 pages, sign-in redirects, a 500 page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                in_path = any(e.get("loc", ("",))[0] == "path" for e in exc.errors())
                return error_page(request, 404 if in_path else 400, "bad_request")
            except SignInRequired:
                return sign_in_redirect(request)
            except WrongRole:
                return error_page(request, 403, "forbidden")
            except AppError as exc:
                if exc.status == 401:
                    return sign_in_redirect(request)
                return error_page(request, exc.status, exc.code, exc.detail)
            except Exception:  # a page, not a traceback; the log keeps the traceback
                logger.exception("page %s failed", request.url.path)
                return error_page(request, 500, "internal_error")

        return page_handler
