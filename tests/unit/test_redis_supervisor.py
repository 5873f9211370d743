"""The supervisor restarts a server that died, backing off while it keeps dying (no sleeping: a hand-moved clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch.embedded.redis_supervisor import FIRST_BACKOFF, MAX_BACKOFF, STEADY, Supervisor
from batch.testing.clock import ManualClock


class FakeServer:
    """Stands for the server process: ``returncode`` None while it runs."""

    def __init__(self) -> None:
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


class Tended(Supervisor):
    """A supervisor whose server is a ``FakeServer``; ``starts`` holds the time of each start."""

    def __init__(self, home: Path, clock: ManualClock) -> None:
        super().__init__(home, "valkey-server", -1, clock=clock, sleep=clock.advance)
        self.starts: list[float] = []
        self._start()

    def _start(self) -> None:
        self.starts.append(self.clock())
        self.server = FakeServer()  # type: ignore[assignment]
        self.started_at = self.clock()
        self.restart_at = None

    def kill_server(self) -> None:
        assert isinstance(self.server, FakeServer)
        self.server.returncode = -9


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sup(tmp_path: Path, clock: ManualClock) -> Tended:
    (tmp_path / "redis").mkdir()
    return Tended(tmp_path, clock)


def test_a_running_server_is_left_alone(sup: Tended, clock: ManualClock) -> None:
    first = clock()
    clock.advance(100)
    sup.restart_if_dead()
    assert sup.starts == [first]


def test_a_dead_server_is_restarted_after_a_backoff_that_doubles(sup: Tended, clock: ManualClock) -> None:
    expected = [clock()]
    backoff = FIRST_BACKOFF
    for _ in range(6):
        sup.kill_server()
        sup.restart_if_dead()  # notices; restarts only once the backoff has passed
        clock.advance(backoff / 2)
        sup.restart_if_dead()
        assert sup.starts == expected
        clock.advance(backoff / 2)
        sup.restart_if_dead()
        expected.append(clock())
        assert sup.starts == expected
        backoff = min(backoff * 2, MAX_BACKOFF)
    assert backoff == MAX_BACKOFF  # the cap was reached on the way
    log = (sup.folder / "supervisor.log").read_text()
    assert log.count("server exited (code -9); restarting") == 6


def test_a_server_that_ran_steadily_gets_the_first_backoff_again(sup: Tended, clock: ManualClock) -> None:
    for _ in range(3):
        sup.kill_server()
        sup.restart_if_dead()
        clock.advance(MAX_BACKOFF)
        sup.restart_if_dead()
    clock.advance(STEADY)
    sup.kill_server()
    sup.restart_if_dead()
    clock.advance(FIRST_BACKOFF)
    sup.restart_if_dead()
    assert sup.starts[-1] == clock()
