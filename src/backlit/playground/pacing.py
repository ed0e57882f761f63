"""How fast the playground trains while a person watches: the speed levels and a pacer.

A level names a pace in optimizer steps (batches) per second. The top level, "as fast as it goes",
has no pace: the adapter trains for as much CPU time as its budget allows. Pacing is per viewer
(per connection or widget), so the :class:`Pacer` lives in the adapter, not in the session.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pace:
    level: int
    steps_per_second: float | None  # None: as fast as it goes
    label: str


PACES: tuple[Pace, ...] = (
    Pace(1, 1, "1 step/s"),
    Pace(2, 3, "3 steps/s"),
    Pace(3, 10, "10 steps/s"),
    Pace(4, 25, "25 steps/s"),
    Pace(5, 50, "50 steps/s"),
    Pace(6, 100, "100 steps/s"),
    Pace(7, 250, "250 steps/s"),
    Pace(8, 1000, "1,000 steps/s"),
    Pace(9, None, "as fast as it goes"),
)
BY_LEVEL = {p.level: p for p in PACES}
DEFAULT_LEVEL = 5  # circle with the default network reaches 95% test accuracy in about 20 s


class Pacer:
    """Turns a pace into the number of steps due now. Credit accrues with time and is capped at a
    quarter of a second's worth, so a stall (a slow frame, a busy server) never turns into a burst."""

    def __init__(self):
        self.credit = 0.0
        self.last: float | None = None

    def due(self, level: int, now: float) -> int | None:
        """Steps that may run now (None: no pace, train as fast as the budget allows)."""
        sps = BY_LEVEL[level].steps_per_second
        dt = 0.0 if self.last is None else max(0.0, now - self.last)
        self.last = now
        if sps is None:
            self.credit = 0.0
            return None
        self.credit = min(self.credit + sps * dt, max(1.0, sps * 0.25))
        return int(self.credit)

    def spend(self, steps: int) -> None:
        self.credit = max(0.0, self.credit - steps)

    def reset(self) -> None:
        """Call on play: the first step comes at once."""
        self.credit, self.last = 1.0, None
