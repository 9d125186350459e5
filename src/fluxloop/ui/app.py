"""The viewer's web application (starlette): the page shell, its static assets and a JSON API.

Every page is the same HTML shell; the script reads the URL (``/experiment?x=…``,
``/run?x=…&trace=…&span=…``, ``/compare?a=…&b=…``) and asks the API, so each URL can be pasted.
The API only reads. Bad input costs a notice, not the page; an unexpected error is logged to
the terminal with its traceback and the browser gets one line saying what failed.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fluxloop.errors import FluxLoopError
from fluxloop.project.layout import EVALUATION_DIR, REPORT_HTML_FILE, SUMMARY_FILE

from .catalog import experiment_row, read_small_json, traces_row
from .comparison import Comparisons
from .derived import DerivedRuns
from .detail import RunDetails
from .runfilter import FilterError, RunFilter
from .runs import RunTable, RunTables
from .source import PathRefused, Root, is_run_dir, is_traces_directory

__all__ = ["TOKEN_COOKIE", "ViewerState", "create_app"]

_log = logging.getLogger("fluxloop.ui")
STATIC = Path(__file__).parent / "static"
TOKEN_COOKIE = "fluxloop_ui_token"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
#: the shell loads only its own script and styles (data is inserted as text, never as HTML)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ViewerState:
    """What the routes share: the served root and the caches over it."""

    def __init__(self, root: Root, version: str) -> None:
        self.root = root
        self.version = version
        self.tables = RunTables()
        self.details = RunDetails()
        self.derived = DerivedRuns()
        self.comparisons = Comparisons(self.run)

    def experiment(self, relative: str | None) -> Path:
        directory = self.root.resolve(relative or ".")
        if not is_run_dir(directory):
            raise LookupError(f"{relative or '.'}: not an experiment directory")
        return directory

    def table(self, directory: Path) -> RunTable:
        """The run table (a directory of traces: of its derived runs)."""
        summary = self.derived.summary_for(directory) if is_traces_directory(directory) else None
        return self.tables.get(directory, summary)

    def run(self, directory: Path, trace_id: str) -> dict[str, Any]:
        """One run in full (see :meth:`RunDetails.run`)."""
        if is_traces_directory(directory):
            return self.details.run(
                directory,
                trace_id,
                self.derived.summary_for(directory),
                self.derived.observation_paths(directory),
            )
        return self.details.run(directory, trace_id)

    def row(self, directory: Path) -> dict[str, Any]:
        """The experiments list's row of a directory."""
        relative = self.root.relative(directory)
        if is_traces_directory(directory):
            return traces_row(directory, relative, self.derived.trace_paths(directory))
        return experiment_row(directory, relative)

    def close(self) -> None:
        self.tables.close()
        self.details.close()
        self.derived.close()


def _param(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise FilterError(f"missing query parameter {name!r}")
    return value


def create_app(state: ViewerState, *, token: str | None = None, loopback: bool = True) -> Starlette:
    """The application; ``token`` (required when not bound to loopback) is checked on every
    request, from ``?token=`` (then kept in a cookie), the cookie or ``Authorization: Bearer``."""

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    def health(request: Request) -> Response:
        return JSONResponse(
            {"app": "fluxloop-ui", "version": state.version, "root": str(state.root.path)}
        )

    def experiments(request: Request) -> Response:
        rows = [state.row(path) for path in state.root.experiments()]
        return JSONResponse({"root": str(state.root.path), "experiments": rows})

    def experiment(request: Request) -> Response:
        relative = _param(request, "x")
        directory = state.experiment(relative)
        table = state.table(directory)
        facets = table.facets()
        evaluation, notice = read_small_json(directory / EVALUATION_DIR / SUMMARY_FILE)
        row = state.row(directory)
        notices = [*row["notices"], *table.notices]
        if notice:
            notices.append("evaluation/" + notice)
        summary, _ = read_small_json(directory / SUMMARY_FILE)
        return JSONResponse(
            {
                "experiment": row,
                "facets": facets,
                "loading": facets["loading"],
                "summary": _pick(summary, "per_persona", "errors", "tokens", "duration_ms"),
                "evaluation": _pick(
                    evaluation, "passed", "overall", "evaluators", "per_persona", "gates"
                ),
                "report": (directory / EVALUATION_DIR / REPORT_HTML_FILE).is_file(),
                "notices": notices,
            }
        )

    def runs(request: Request) -> Response:
        directory = state.experiment(_param(request, "x"))
        flt = RunFilter.from_query(request.query_params)
        return JSONResponse(state.table(directory).page(flt))

    def run(request: Request) -> Response:
        directory = state.experiment(_param(request, "x"))
        trace_id = _param(request, "trace")
        detail = state.run(directory, trace_id)
        if detail["run"] is None and not detail["spans"]:
            raise LookupError(f"run {trace_id}: not found in this experiment")
        detail["siblings"] = state.table(directory).siblings(trace_id)
        return JSONResponse(detail)

    def compare(request: Request) -> Response:
        a = state.experiment(_param(request, "a"))
        b = state.experiment(_param(request, "b"))
        return JSONResponse(state.comparisons.result(a, b))

    def pair(request: Request) -> Response:
        a = state.experiment(_param(request, "a"))
        b = state.experiment(_param(request, "b"))
        return JSONResponse(
            state.comparisons.pair(a, _param(request, "ta"), b, _param(request, "tb"))
        )

    def report(request: Request) -> Response:
        directory = state.experiment(_param(request, "x"))
        path = directory / EVALUATION_DIR / REPORT_HTML_FILE
        if not path.is_file():
            raise LookupError("evaluation/report.html: not found (run fluxloop evaluate first)")
        return FileResponse(path, media_type="text/html")

    routes = [
        Route("/", page),
        Route("/experiment", page),
        Route("/run", page),
        Route("/compare", page),
        Route("/api/health", health),
        Route("/api/experiments", experiments),
        Route("/api/experiment", experiment),
        Route("/api/runs", runs),
        Route("/api/run", run),
        Route("/api/compare", compare),
        Route("/api/pair", pair),
        Route("/report", report),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(_ErrorsMiddleware)]
    if token:
        middleware.insert(0, Middleware(_TokenMiddleware, token=token))
    if loopback:  # refuse other Host headers: a web page elsewhere cannot rebind a name to us
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS))
    return Starlette(routes=routes, middleware=middleware)


def _pick(data: dict[str, Any] | None, *keys: str) -> dict[str, Any] | None:
    if data is None:
        return None
    return {k: data[k] for k in keys if k in data}


def _error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return Response(
        f"<!doctype html><title>FluxLoop</title><p>{_escape(message)}</p>",
        status_code=status,
        media_type="text/html",
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _ErrorsMiddleware:
    """Maps exceptions to one-line answers; tracebacks go to the terminal only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            request = Request(scope)
            status, message = _classify(exc, request)
            await _error(request, status, message)(scope, receive, send)


def _classify(exc: Exception, request: Request) -> tuple[int, str]:
    if isinstance(exc, PathRefused):
        return 403, f"refused: {exc}"
    if isinstance(exc, FilterError):
        return 400, str(exc)
    if isinstance(exc, LookupError):
        return 404, str(exc.args[0]) if exc.args else "not found"
    if isinstance(exc, FluxLoopError):
        return 422, str(exc)
    _log.error("fluxloop ui: %s failed", request.url.path, exc_info=exc)
    return 500, (
        f"internal error while serving {request.url.path} ({type(exc).__name__}); "
        "the details are in the terminal running fluxloop ui"
    )


class _TokenMiddleware:
    """Every request carries the token (query parameter, cookie or bearer header)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    def _ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate, self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        header = request.headers.get("authorization", "")
        bearer = header[7:] if header.lower().startswith("bearer ") else None
        from_query = request.query_params.get("token")
        if self._ok(request.cookies.get(TOKEN_COOKIE)) or self._ok(bearer):
            await self.app(scope, receive, send)
            return
        if self._ok(from_query):
            await self.app(scope, receive, _with_cookie(send, self.token))
            return
        await _error(request, 401, "a token is required: open the URL printed by fluxloop ui")(
            scope, receive, send
        )


def _with_cookie(send: Send, token: str) -> Send:
    cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict".encode()

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)

    return wrapped
