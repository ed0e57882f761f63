"""How long does each lesson of the course take a scripted learner, at the page's default pace?

    python benchmarks/course.py [--pace LEVEL]

For every lesson, the learner opens each step, types the engine's answer or picks the right choice, and
does the step's scripted action (its `solution`: the buttons and settings a learner would use). A task
step then trains the way the server does while the page watches: at the pace's steps per second (the
default is backlit.playground.pacing.DEFAULT_LEVEL, 50 steps/s), half a second's worth per frame, the
goal checked after each frame. The time of a task is its steps divided by the pace: the wall-clock time
a learner waits for the network, not the time this script takes (it trains as fast as it can). Steps
that ask for a typed answer, a choice or a button count as zero here: they take as long as the learner.
"""

from __future__ import annotations

import argparse
import time

from backlit.playground import lessons, pacing
from backlit.playground.session import Playground
from backlit.server import protocol as P


def send(pg, type_, **payload):
    return pg.handle(P.validate({"type": type_, **payload}))


def walk(lesson, sps: float) -> tuple[float, int, float]:
    """(seconds of training at the pace, optimizer steps, seconds this script took)."""
    t0 = time.perf_counter()
    pg = Playground()
    steps = 0
    for k, step in enumerate(lesson.steps):
        send(pg, "lesson_open", lesson=lesson.name, step=k)
        check = step.check
        if isinstance(check, lessons.Number):
            send(pg, "lesson_answer", answer=float(check.key(pg)))
        elif isinstance(check, lessons.Links):
            send(pg, "lesson_answer", answer=check.key(pg))
        elif isinstance(check, lessons.Choice):
            send(pg, "lesson_answer", answer=check.correct)
        for type_, payload in step.solution:
            if type_ in lessons.PAGE_EVENTS:
                send(pg, "lesson_event", event=type_)
            else:
                send(pg, type_, **payload)
        per_frame = max(int(sps // 2), 1)
        while isinstance(check, lessons.Goal) and k not in pg.course.done.get(lesson.name, set()):
            pg.train_for(10.0, max_steps=per_frame)
            steps += per_frame
            pg.lesson_poll()
            if steps > 100 * sps:
                raise SystemExit(f"{lesson.name} step {k + 1}: goal not reached in {steps} steps")
        pg.playing = False
        assert k in pg.course.done.get(lesson.name, set()), (lesson.name, k)
    return steps / sps, steps, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--pace", type=int, default=pacing.DEFAULT_LEVEL)
    args = ap.parse_args()
    sps = pacing.BY_LEVEL[args.pace].steps_per_second
    if sps is None:
        raise SystemExit("pick a paced level (the top one has no pace)")
    print(f"pace: level {args.pace}, {sps:g} steps/s")
    print(f"{'lesson':<14} {'steps':>5} {'tasks':>5} {'training wait':>14} {'optimizer steps':>16} {'script':>8}")
    total = 0.0
    for lesson in lessons.LESSONS.values():
        tasks = sum(isinstance(st.check, lessons.Goal) for st in lesson.steps)
        wait, n, took = walk(lesson, sps)
        total += wait
        print(f"{lesson.name:<14} {len(lesson.steps):>5} {tasks:>5} {wait:>12.1f} s {n:>16} {took:>6.1f} s")
    print(f"{'all':<14} {sum(len(l.steps) for l in lessons.LESSONS.values()):>5} "
          f"{sum(isinstance(s.check, lessons.Goal) for l in lessons.LESSONS.values() for s in l.steps):>5} "
          f"{total:>12.1f} s")


if __name__ == "__main__":
    main()
