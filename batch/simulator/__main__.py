"""``python -m batch.simulator``: the same command as ``nanobatch simulate``."""

from batch.simulator.cli import simulate

if __name__ == "__main__":
    simulate(prog_name="python -m batch.simulator")
