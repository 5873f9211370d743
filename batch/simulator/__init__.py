"""A faithful simulator of the RunComfy Nano Banana Pro edit API, served over real HTTP.

Python API: :class:`SimulatorConfig` (every flag), :func:`serve` (blocking),
:func:`running_simulator` (in a background thread) and :func:`spawn_simulator` (a subprocess).
"""

from batch.simulator.config import SimulatorConfig, parse_latency
from batch.simulator.runner import SimulatorHandle, running_simulator, serve, spawn_simulator

__all__ = [
    "SimulatorConfig",
    "SimulatorHandle",
    "parse_latency",
    "running_simulator",
    "serve",
    "spawn_simulator",
]
