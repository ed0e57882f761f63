"""What does one frame cost the server? The per-frame work on the default network, broken down.

    python benchmarks/frames.py                # 400 frames (a few seconds)
    python benchmarks/frames.py --frames 2000

A frame is what a training session sends about 10 times a second (docs/protocol.md): the loss and
accuracy on the training set (a forward + backward over it, which also gives the links' gradient),
the test loss and accuracy, the boundary map (100x100) and the neuron maps (25x25 each), the header
(weights, gradient, metrics) and the encoding (uint8 quantisation, delta filter, deflate, JSON).

Each frame follows one training step (not timed), as while training; the session's own methods are
timed where they are called, so the parts add up to the whole. Times are CPU time of this process
(``time.process_time``), what a frame costs the server's CPU budget: on a shared machine a process
that waits for a core would otherwise count the wait. Figures are medians over frames, in
microseconds; the 1-minute load average is printed with them. numpy uses one thread (as the server).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from backlit.playground import session as playground  # noqa: E402
from backlit.lab import trace as explain  # noqa: E402
from backlit.server import protocol  # noqa: E402

CLOCK = time.process_time

PARTS = {  # part of the frame -> (owner, attribute) of the function that does it
    "training-set pass": (playground.Playground, "_train_pass"),
    "metrics (test set)": (playground.Playground, "_evaluate"),
    "boundary + neuron maps": (explain, "grid"),
    "encoding": (protocol.FrameEncoder, "encode"),
}


@contextlib.contextmanager
def timed(spent):
    """Wrap each part's function so that its time (outermost calls only) adds to ``spent``."""
    saved = []
    depth = {"n": 0}
    for part, (owner, name) in PARTS.items():
        fn = getattr(owner, name)
        saved.append((owner, name, owner.__dict__[name]))

        def wrapper(*a, _fn=fn, _part=part, **k):
            depth["n"] += 1
            t0 = CLOCK()
            try:
                return _fn(*a, **k)
            finally:
                depth["n"] -= 1
                spent[_part] += CLOCK() - t0

        setattr(owner, name, staticmethod(wrapper) if isinstance(owner.__dict__[name], staticmethod)
                else wrapper)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def measure(frames: int, config=None):
    pg = playground.Playground(config)
    pg.playing = True
    encoder = protocol.FrameEncoder(compact=True)
    cursor = playground.HistoryCursor()
    rows = []
    for k in range(frames + 20):
        pg.train_for(1.0, max_steps=1)
        spent = dict.fromkeys(PARTS, 0.0)
        with timed(spent):
            t0 = CLOCK()
            header, arrays = pg.frame()
            t1 = CLOCK()
            blob = encoder.encode({**header, **pg.history_since(cursor)}, arrays)
            t2 = CLOCK()
        if k >= 20:  # the first frames warm caches and allocators up
            inner = spent["training-set pass"] + spent["metrics (test set)"] + spent["boundary + neuron maps"]
            rows.append({**spent, "header and the rest of frame()": (t1 - t0) - inner,
                         "total": t2 - t0, "bytes": len(blob)})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400)
    args = parser.parse_args(argv)
    load0 = os.getloadavg()[0]
    rows = measure(args.frames)
    load1 = os.getloadavg()[0]
    pg = playground.Playground()
    print(f"default session: {pg.config['dataset']}, {'-'.join(map(str, pg.sizes))} {pg.config['activation']}, "
          f"{pg.n_train} training and {len(pg.y_test)} test points; {args.frames} frames; "
          f"load {load0:.2f} -> {load1:.2f}")
    names = [*PARTS, "header and the rest of frame()"]
    names = [n for n in names if n != "encoding"] + ["encoding", "total"]
    total = np.median([r["total"] for r in rows])
    for n in names:
        med = np.median([r[n] for r in rows])
        print(f"  {n:<34} {med * 1e6:8.0f} us  {med / total:6.1%}")
    print(f"  frame size: {np.median([r['bytes'] for r in rows]):.0f} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
