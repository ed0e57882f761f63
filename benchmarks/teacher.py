"""What does the teacher's view cost a worker? Its once-a-second report of every tab, at 60 tabs.

    python benchmarks/teacher.py            # 60 tabs, SQLite store in a temporary folder
    python benchmarks/teacher.py --tabs 120

Each tab is a real playground session (the default network on the circle), half of them training
between reports so that their thumbnails must be recomputed. The figure is the CPU time of one
report of all the tabs (summaries, 16x16 boundary thumbnails, the store's writes), as a share of a
core at one report per second; the training itself is not counted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from backlit.playground.session import Playground
from backlit.server.store import open_store
from backlit.server.teacher import Classroom


class Tab:
    def __init__(self):
        self.pg = Playground()
        self.lock = None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tabs", type=int, default=60)
    parser.add_argument("--reports", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{os.path.join(folder, 'class.db')}")
        room = Classroom(store)
        tabs = [Tab() for _ in range(args.tabs)]
        for k, tab in enumerate(tabs):
            room.attach(tab, f"{k:016x}")
        costs = []
        for r in range(args.reports):
            for tab in tabs[::2]:
                tab.pg.train_for(0.002, 5)      # half the class trained since the last report
            t0 = time.process_time()
            room.tick()
            costs.append(time.process_time() - t0)
        store.close()
    load = os.getloadavg()[0]
    best, median = min(costs), sorted(costs)[len(costs) // 2]
    print(f"{args.tabs} tabs, one report a second, load {load:.2f}: best {best * 1e3:.1f} ms, "
          f"median {median * 1e3:.1f} ms of CPU per report = {100 * median:.1f}% of a core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
