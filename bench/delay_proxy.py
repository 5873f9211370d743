"""A TCP proxy that holds every chunk ``--delay`` seconds in each direction, keeping its order.

The kernel here has no ``netem`` qdisc, so ``bench_hosts`` adds the round trip of a remote
PostgreSQL, Redis and API with this proxy instead: each chunk read is stamped with the time it is
due and written once that time comes, so that the delay is a latency (chunks in flight overlap)
and not a bandwidth limit. A delay of 0 forwards at once (the same topology without latency).

Usage::

    python bench/delay_proxy.py --delay 0.005 --map 10.231.1.1:5432=127.0.0.1:5432 [--map ...]

It prints ``READY`` once every listener is bound, and stops on SIGTERM or SIGINT, printing
``STATS {json}``: per listener, the connections, the client's chunks, and its turns (a client chunk
after the server spoke, or the first one: the round trips a latency costs) and bytes each way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import asdict, dataclass

CHUNK = 65536


@dataclass
class Counts:
    """What went through one listener."""

    target: str
    conns: int = 0
    client_chunks: int = 0
    turns: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


class Turns:
    """One connection's direction, to count the client's turns."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.client_last = False

    def saw(self, from_client: bool, size: int) -> None:
        """Count a chunk read from the client (``from_client``) or from the server."""
        if from_client:
            self.counts.client_chunks += 1
            self.counts.bytes_up += size
            if not self.client_last:
                self.counts.turns += 1
        else:
            self.counts.bytes_down += size
        self.client_last = from_client


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float,
                turns: Turns, from_client: bool) -> None:
    """Copy ``reader`` to ``writer``, each chunk written ``delay`` s after it was read, in order."""
    loop = asyncio.get_running_loop()
    held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        try:
            while chunk := await reader.read(CHUNK):
                turns.saw(from_client, len(chunk))
                held.put_nowait((loop.time() + delay, chunk))
        except (ConnectionError, OSError):
            pass
        held.put_nowait((loop.time() + delay, b""))  # end of stream, delayed like the data

    reading = asyncio.create_task(read())
    try:
        while True:
            due, chunk = await held.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                if writer.can_write_eof():
                    writer.write_eof()
                break
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        reading.cancel()


async def _serve_one(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                     target: tuple[str, int], delay: float, counts: Counts) -> None:
    counts.conns += 1
    try:
        server_r, server_w = await asyncio.open_connection(*target)
    except OSError:
        client_w.close()
        return
    turns = Turns(counts)
    try:
        await asyncio.gather(_pump(client_r, server_w, delay, turns, True),
                             _pump(server_r, client_w, delay, turns, False))
    finally:
        for w in (client_w, server_w):
            with contextlib.suppress(Exception):
                w.close()


async def main(maps: list[tuple[tuple[str, int], tuple[str, int]]], delay: float) -> None:
    """Listen on every ``(listen, target)`` pair until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    servers = []
    stats: dict[str, Counts] = {}
    for listen, target in maps:
        counts = stats[f"{listen[0]}:{listen[1]}"] = Counts(f"{target[0]}:{target[1]}")

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter, target: tuple[str, int] = target,
                         counts: Counts = counts) -> None:
            with contextlib.suppress(asyncio.CancelledError):  # cancelled at the stop: ends quietly
                await _serve_one(r, w, target, delay, counts)
        servers.append(await asyncio.start_server(handle, *listen, reuse_address=True, backlog=512))
    print("READY", flush=True)
    await stop.wait()
    for server in servers:
        server.close()
    connections = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in connections:
        task.cancel()
    await asyncio.gather(*connections, return_exceptions=True)
    print("STATS " + json.dumps({k: asdict(v) for k, v in stats.items()}), flush=True)


def cli(argv: list[str] | None = None) -> None:
    """Parse ``--delay`` and the ``--map LISTEN=TARGET`` pairs, then serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--delay", type=float, default=0.005, help="seconds each way (default 0.005)")
    parser.add_argument("--map", action="append", required=True, metavar="HOST:PORT=HOST:PORT")
    args = parser.parse_args(argv)
    maps = [(_address(m.split("=", 1)[0]), _address(m.split("=", 1)[1])) for m in args.map]
    asyncio.run(main(maps, max(0.0, args.delay)))


if __name__ == "__main__":
    cli(sys.argv[1:])
