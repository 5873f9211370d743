"""Ways to run the simulator: blocking (:func:`serve`), in a thread, or as a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any

from aiohttp import web

from batch.simulator.app import build_app
from batch.simulator.config import SimulatorConfig
from batch.simulator.middleware import STATE
from batch.simulator.state import SimState

BANNER = "nanobatch simulator listening on "
SHUTDOWN_TIMEOUT = 1.0


@dataclass(frozen=True)
class SimulatorHandle:
    """A running simulator: where it listens, and its introspection endpoints."""

    base_url: str

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (e.g. ``/samples/shoe.png``) on this simulator."""
        return self.base_url + path

    def _get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url(path), timeout=30) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        """The ``/_sim/stats`` counters."""
        result: dict[str, Any] = self._get_json("/_sim/stats")
        return result

    def jobs(self) -> list[dict[str, Any]]:
        """The ``/_sim/jobs`` list."""
        result: list[dict[str, Any]] = self._get_json("/_sim/jobs")
        return result


@contextlib.asynccontextmanager
async def started(config: SimulatorConfig) -> AsyncIterator[SimState]:
    """Run the simulator on the current event loop for the duration of the block."""
    app = build_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        state = app[STATE]
        state.bound(int(runner.addresses[0][1]))
        yield state
    finally:
        await runner.cleanup()


async def _serve_until_signalled(config: SimulatorConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with started(config) as state:
        print(f"{BANNER}{state.base_url}", flush=True)
        await stop.wait()


def serve(config: SimulatorConfig) -> None:
    """Run the simulator until SIGINT or SIGTERM (blocking); prints the banner line when bound."""
    asyncio.run(_serve_until_signalled(config))


class _ServerThread(threading.Thread):
    def __init__(self, config: SimulatorConfig) -> None:
        super().__init__(name="nanobatch-simulator", daemon=True)
        self.config = config
        self.base_url = ""
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None

    def run(self) -> None:
        """Thread body: serve on a fresh event loop until :meth:`stop`."""
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        try:
            async with started(self.config) as state:
                self.base_url = state.base_url
                self.ready.set()
                await self._stop_event.wait()
        except BaseException as exc:
            self.error = exc
        finally:
            self.ready.set()

    def stop(self) -> None:
        """Ask the server loop to shut down and wait for the thread to end."""
        if self._loop is not None and self._stop_event is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already gone
                self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout=30)


@contextlib.contextmanager
def running_simulator(config: SimulatorConfig | None = None) -> Iterator[SimulatorHandle]:
    """Run a simulator in a background thread on a free port (``config.port`` is ignored)."""
    thread = _ServerThread(replace(config or SimulatorConfig(), port=0))
    thread.start()
    thread.ready.wait(timeout=60)
    try:
        if thread.error is not None or not thread.base_url:
            raise RuntimeError(f"simulator failed to start: {thread.error!r}") from thread.error
        yield SimulatorHandle(thread.base_url)
    finally:
        thread.stop()


def _pump_stdout(stream: IO[str], first_line: queue.Queue[str]) -> None:
    first_line.put(stream.readline())
    for _ in stream:  # keep draining so the child never blocks on a full pipe
        pass


def _stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def spawn_simulator(args: Sequence[str] = (), startup_timeout: float = 60.0) -> Iterator[SimulatorHandle]:
    """Run ``python -m batch.simulator --port 0 *args`` as a subprocess; stop it on exit."""
    command = [sys.executable, "-m", "batch.simulator", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump_stdout, args=(process.stdout, lines), daemon=True).start()
        try:
            banner = lines.get(timeout=startup_timeout)
        except queue.Empty:
            raise RuntimeError(f"simulator printed nothing within {startup_timeout} s") from None
        if not banner.startswith(BANNER):
            raise RuntimeError(f"simulator did not start (exit {process.poll()}): {banner!r}")
        yield SimulatorHandle(banner[len(BANNER):].strip())
    finally:
        _stop_process(process)
