"""``nanobatch simulate`` (also ``python -m batch.simulator``): run the RunComfy API simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from batch.simulator.config import DEFAULT_HOST, DEFAULT_PORT, SimulatorConfig, parse_latency
from batch.simulator.runner import serve
from batch.simulator.shapes import DEFAULT_SHAPE, RESULT_SHAPES

EPILOG = """\b
Example:
  nanobatch simulate --port 8765 --workers 2 --latency 2-5 --token secret
  curl -s -H 'Authorization: Bearer secret' -H 'Content-Type: application/json' \\
    -d '{"prompt": "put it on a beach", "image_urls": ["http://127.0.0.1:8765/samples/shoe.png"]}' \\
    http://127.0.0.1:8765/v1/models/google/nano-banana/pro/edit
  curl -s -H 'Authorization: Bearer secret' http://127.0.0.1:8765/v1/requests/<request_id>/status
  curl -s http://127.0.0.1:8765/_sim/stats

\b
Money is charged for succeeded jobs only. Samples: /samples/ (no auth). Outputs: /files/ (no auth).
"""


def parse_latency_option(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, float]:
    """Click callback: ``A-B`` or ``A`` seconds into ``(low, high)``, else a one-line BadParameter."""
    try:
        return parse_latency(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


FRACTION = click.FloatRange(0.0, 1.0)
NON_NEGATIVE = click.FloatRange(min=0.0)


@click.command(name="simulate", epilog=EPILOG)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free port (printed on the first stdout line).")
@click.option("--token", "tokens", multiple=True, metavar="TOKEN",
              help="Accepted bearer token (repeatable). Without it any non-empty token is accepted.")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=1),
              help="Upstream jobs running at once; the rest wait in_queue (FIFO).")
@click.option("--latency", default="1-3", show_default=True, metavar="A-B", callback=parse_latency_option,
              help="Job run time in seconds, uniform in A-B, or fixed A (0 allowed).")
@click.option("--result-ttl", default=3600.0, show_default=True, type=NON_NEGATIVE,
              help="Seconds a result file is served after its job finished (then 404).")
@click.option("--rate-limit", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="Requests per second per token over all /v1 calls; beyond it 429 + Retry-After.")
@click.option("--max-in-flight", type=click.IntRange(min=1), default=None,
              help="Per token: submit answers 429 while the token has this many jobs queued or running.")
@click.option("--fail-rate", default=0.0, type=FRACTION, help="Fraction of jobs that end failed.")
@click.option("--error-rate", default=0.0, type=FRACTION, help="Fraction of /v1 calls answered 503.")
@click.option("--drop-rate", default=0.0, type=FRACTION,
              help="Fraction of /v1 calls whose connection is closed unanswered (a dropped submit "
                   "still creates its job).")
@click.option("--slow-rate", default=0.0, type=FRACTION,
              help="Fraction of /v1 answers delayed by --slow-seconds.")
@click.option("--slow-seconds", default=30.0, show_default=True, type=NON_NEGATIVE,
              help="Delay of a slow answer, in seconds (also how long a slow download takes).")
@click.option("--slow-download-rate", default=0.0, type=FRACTION,
              help="Fraction of output file downloads trickled out over --slow-seconds.")
@click.option("--seed", type=int, default=None, help="Seed for every random draw (reproducible faults).")
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append one JSON line per /v1 call to this file.")
@click.option("--price-1k2k", default=0.15, show_default=True, type=NON_NEGATIVE,
              help="Dollars per output image at 1K and 2K.")
@click.option("--price-4k", default=0.30, show_default=True, type=NON_NEGATIVE,
              help="Dollars per output image at 4K.")
@click.option("--result-shape", default=DEFAULT_SHAPE, show_default=True, type=click.Choice(RESULT_SHAPES),
              help="How /result lists a succeeded job's outputs (the documented shape, or another "
                   "plausible one with unknown fields added): see batch/simulator/shapes.py.")
@click.option("--request-id-prefix", default="", metavar="TEXT",
              help="Put TEXT before every request id (an upstream answering odd ids, e.g. '../../v1/x?y=').")
@click.option("--answer-cost", default=None, metavar="JSON",
              help="Answer this JSON value as every succeeded job's cost (e.g. 1e30, -98.95, '\"free\"').")
@click.option("--balance", type=NON_NEGATIVE, default=None, metavar="DOLLARS",
              help="The account's balance: once the charges reach it, submits answer 402 (code 400002).")
@click.option("--result-errors", default=0, show_default=True, type=click.IntRange(min=0), metavar="N",
              help="The first N /result reads of each request answer 503 (code 503001); the job runs on.")
def simulate(**options: Any) -> None:
    """Run a local simulator of the RunComfy Nano Banana Pro edit API over real HTTP.

    It serves the four /v1 calls (submit, status, result, cancel) with bearer auth, a job queue,
    real image outputs, and optional, reproducible faults. Faults are all off by default.
    """
    options["tokens"] = tuple(options["tokens"])
    try:
        config = SimulatorConfig(**options)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    serve(config)
