"""``nanobatch serve``: the Starlette app over the batches in the home, and the uvicorn server running it.

Starlette rather than FastAPI: the app is a handful of HTML pages and small JSON endpoints, with
no request models or OpenAPI to gain from FastAPI's layer (and pydantic with it); rather than
aiohttp (the simulator's server): Starlette pairs with Jinja2's autoescaping templates, serves
static files and runs sync handlers (database, Pillow) in a thread pool out of the box.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from batch.config import Settings, private_dir
from batch.core.cost import PriceTable
from batch.core.progress import RateTracker
from batch.errors import InputError
from batch.web import pilot, routes
from batch.web.common import Memo, Workers
from batch.web.security import Guard, is_loopback, new_secret
from batch.web.thumbcache import ThumbCache

HERE = Path(__file__).parent
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]


@dataclass
class WebState:
    """What the handlers share: the database, thumbnails, prices, the CSRF token, rate trackers, and
    ``workers``: what starts workers for the batches the page queues work for (``serve --workers``)."""

    sessions: sessionmaker[Session]
    thumbs: ThumbCache
    prices: PriceTable
    csrf: str
    reviewer: str
    clock: Callable[[], float] = time.time
    trackers: dict[int, RateTracker] = field(default_factory=dict)
    memo: Memo = field(default_factory=Memo)
    workers: Workers | None = None


def build_app(state: WebState, *, token: str | None = None, loopback_only: bool = True) -> Starlette:
    """The web app; ``token``: required on every request; ``loopback_only``: refuse other Host names."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescapes .html
    middleware = [Middleware(Guard, token=token, csrf=state.csrf)]
    if loopback_only:  # a page on another site cannot reach us through a rebound DNS name
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS))
    app = Starlette(routes=[*routes.ROUTES, *pilot.ROUTES, Mount("/static", StaticFiles(directory=str(HERE / "static")),
                                                  name="static")], middleware=middleware)
    app.state.web = state
    app.state.templates = templates
    return app


def _check_port(host: str, port: int) -> None:
    """A clear one-line error now rather than uvicorn's log line when the address cannot be used."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as exc:
        raise InputError(f"--host/--port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def run(settings: Settings, *, host: str, port: int, token: str | None, workers: Workers | None = None) -> None:
    """Serve until Ctrl-C; bound elsewhere than loopback, with a token (generated when not given).

    ``workers``: told when the page queues jobs (``serve --workers``)."""
    import uvicorn

    from batch.commands import service
    from batch.commands.review import reviewer

    _check_port(host, port)
    local = is_loopback(host)
    if not local and not token:
        token = new_secret()
    if token is not None and len(token) < 16:
        raise InputError("--token: use at least 16 characters")
    state = WebState(service.sessions(), ThumbCache(private_dir(private_dir(settings.home) / "thumbs")),
                     PriceTable(settings.price_1k_2k, settings.price_4k), new_secret(), reviewer(), workers=workers)
    app = build_app(state, token=token, loopback_only=local)
    shown = f"[{host}]" if ":" in host else host
    suffix = f"/?token={token}" if token else "/"
    print(f"nanobatch serve: http://{shown}:{port}{suffix}  (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@contextmanager
def background_server(app: Starlette, host: str = "127.0.0.1") -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free port (tests, benchmarks); yields its base URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="nanobatch-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
