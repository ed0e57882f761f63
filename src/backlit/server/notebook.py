"""The notebook widget: the second thin adapter around `backlit.playground.session.Playground` (app.py is the first).

``backlit.show(model, "xor")`` returns a :class:`PlaygroundWidget`, an anywidget whose front end is the
page itself: the same ES modules (src/backlit/web/js), the same DOM (index.html's body), the same CSS
(scoped to the widget). Only the transport differs: the page's views talk over the widget's custom
messages (JSON content, frames as one binary buffer) instead of a WebSocket (web/js/widget.js).

The Python side is the same :class:`~backlit.server.viewer.Viewer` as app.py's, without the asyncio and
the CPU budget (one kernel is one person): the viewer checks and runs messages, packs frames, paces
training and decides when a frame is due; this module keeps the thread that trains, the lock and the
comm. Two threads use the Playground (the kernel's, for messages and ``refresh``, and the trainer), so
every call holds ``self.lock``.

With a model of the user's own, the widget trains and shows *that* ``nn.MLP`` object (``pg.use_model``):
after training in the widget, ``model`` in the next cell has the trained weights; a model changed in code
shows after ``widget.refresh()``, or by itself after the cell that changed it (a cheap weight checksum
after every cell, while the widget is not training).

One widget per notebook page: the page's main.js finds its elements with ``document.getElementById``.
``show`` closes the widget it made before, so re-running a cell is fine.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import weakref
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..lab import data as data_module
from ..playground.session import Playground
from ..playground.settings import ProtocolError
from .viewer import Viewer

try:
    import anywidget
    import traitlets
except ImportError as e:  # backlit.show turns this into a one-line message
    raise ImportError("backlit.show needs anywidget: pip install 'backlit[notebook]'") from e

log = logging.getLogger("backlit.notebook")

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
JS_ROOT = WEB_ROOT / "js"
PAGE_CSS = ("style.css", "learn.css", "graph.css", "lesson.css", "exprlab.css")
WRAPPER = "backlit-widget"

# ---- the page's modules, loadable from a string ------------------------------------------------------
# anywidget imports `_esm` from a blob URL, where './x.js' resolves to nothing. So every relative
# specifier is rewritten to the data: URL of that module, itself rewritten first (the import graph has
# no cycles: checked below). Identical URLs are one module instance, so singletons and live bindings
# work as in the page. Two page modules are replaced in the widget: the URL hash belongs to the
# notebook, and the keyboard shortcuts only act on keys pressed inside the widget. main.js itself goes as
# rewritten source (the `_main` trait): widget.js imports it from a new blob: URL per view, so a re-run
# cell's widget wires itself again, while the view modules stay shared. Nested base64 makes the whole
# about 400 KB (twice the sources), sent once per widget. Read once per process: restart the kernel
# after editing the page's files.

_SPECIFIER = re.compile(r"""(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])\./([\w.-]+\.js)\2""")

WIDGET_MODULES = {
    # the notebook's URL is not the playground's: nothing to read, nothing to write
    # (the weights-in-a-link codec is the page's own)
    "state.js": ("export { MAX_WEIGHT_CHARS, encodeWeights, decodeWeights, splitHash } from './page-state.js';\n"
                 "export function readHash() { return ''; }\nexport function writeHash() { return false; }\n"),
    # the page's shortcuts, for keys pressed inside the widget only (JupyterLab has its own)
    "keys.js": (
        "import { bindKeys as bindPageKeys } from './page-keys.js';\n"
        "let inside = false;\n"
        "document.addEventListener('keydown', (ev) => {\n"
        "  inside = ev.target instanceof Element && ev.target.closest('." + WRAPPER + "') !== null;\n"
        "}, true);\n"
        "export function bindKeys(actions) {\n"
        "  const gated = {};\n"
        "  for (const [k, fn] of Object.entries(actions)) gated[k] = (...a) => (inside ? fn(...a) : undefined);\n"
        "  bindPageKeys(gated);\n"
        "}\n"),
}
PAGE_ALIASES = {"page-keys.js": "keys.js", "page-state.js": "state.js"}  # names that always mean the page's own file


def _source(name: str) -> str:
    if name in WIDGET_MODULES:
        return WIDGET_MODULES[name]
    return (JS_ROOT / PAGE_ALIASES.get(name, name)).read_text(encoding="utf-8")


def _data_url(text: str) -> str:
    return "data:text/javascript;base64," + base64.b64encode(text.encode("utf-8")).decode("ascii")


_urls: dict[str, str] = {}


def rewrite(text: str, _chain: tuple = ()) -> str:
    """``text`` with every relative specifier replaced by the data: URL of that module. A module that
    names itself (its usage note, ``import { f } from './self.js'`` in a comment) keeps the bare name."""
    def url(m) -> str:
        name = m.group(3)
        target = name if _chain and name == _chain[-1] else module_url(name, _chain)
        return f"{m.group(1)}{m.group(2)}{target}{m.group(2)}"

    return _SPECIFIER.sub(url, text)


def module_url(name: str, _chain: tuple = ()) -> str:
    """The data: URL of module ``name``, its own imports rewritten first (depth first: dependency order)."""
    if name in _chain:
        raise ValueError("import cycle: " + " -> ".join(_chain + (name,)))
    if name not in _urls:
        _urls[name] = _data_url(rewrite(_source(name), _chain + (name,)))
    return _urls[name]


# ---- the page's DOM and CSS ----------------------------------------------------------------------------
@lru_cache(maxsize=None)
def page_body() -> str:
    """index.html's <body> content, with the one relative image made a data: URL."""
    html = (WEB_ROOT / "index.html").read_text(encoding="utf-8")
    body = html[html.index(">", html.index("<body")) + 1:html.rindex("</body>")]
    icon = "data:image/svg+xml;base64," + base64.b64encode((WEB_ROOT / "favicon.svg").read_bytes()).decode("ascii")
    return body.replace('src="favicon.svg"', f'src="{icon}"')


_ROOTS = re.compile(r"^(?:html|body|:root)$")
_BODY_CLASS = re.compile(r"^body((?:\.[\w-]+)+)(\s.*)?$")


def _scope_selector(sel: str) -> str:
    """One selector, scoped to the widget: `body`/`html`/`:root` are the wrapper itself; `body.x .y`
    (a class the page puts on <body>) keeps the class on the real body, around the wrapper."""
    sel = sel.strip()
    if _ROOTS.match(sel):
        return f".{WRAPPER}"
    m = _BODY_CLASS.match(sel)
    if m:
        return f"body{m.group(1)} .{WRAPPER}{m.group(2) or ''}"
    return f".{WRAPPER} {sel}"


def scope_css(css: str) -> str:
    """Prefix every style rule's selectors with the wrapper class (inside @media too; @keyframes and
    other at-rules as they are). Comments are dropped. Enough for the page's own CSS, not a CSS parser."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    out, i = [], 0
    while i < len(css):
        brace = css.find("{", i)
        if brace < 0:
            break
        prelude = css[i:brace].strip()
        depth, j = 1, brace + 1
        while depth and j < len(css):
            depth += {"{": 1, "}": -1}.get(css[j], 0)
            j += 1
        block = css[brace + 1:j - 1]
        if prelude.startswith("@media") or prelude.startswith("@supports"):
            out.append(f"{prelude} {{\n{scope_css(block)}}}\n")
        elif prelude.startswith("@"):
            out.append(f"{prelude} {{{block}}}\n")
        else:
            sels = ", ".join(_scope_selector(s) for s in prelude.split(","))
            out.append(f"{sels} {{{block}}}\n")
        i = j
    return "".join(out)


@lru_cache(maxsize=None)
def widget_css() -> str:
    own = (f".{WRAPPER} {{ position: relative; isolation: isolate; }}\n"
           f".{WRAPPER}-scroll {{ overflow-x: auto; }}\n")
    return own + "".join(scope_css((WEB_ROOT / name).read_text(encoding="utf-8")) for name in PAGE_CSS)


@lru_cache(maxsize=None)
def main_source() -> str:
    return rewrite(_source("main.js"), ("main.js",))


@lru_cache(maxsize=None)
def widget_esm() -> str:
    return rewrite((JS_ROOT / "widget.js").read_text(encoding="utf-8"), ("widget.js",))


# ---- the widget -----------------------------------------------------------------------------------------
_live: "weakref.WeakSet[PlaygroundWidget]" = weakref.WeakSet()


class PlaygroundWidget(anywidget.AnyWidget):
    """The playground in a notebook cell, on one :class:`Playground` (``widget.playground``).

    ``widget.model`` is the network being trained (the user's own ``nn.MLP`` when one was given);
    ``widget.refresh()`` redraws after the model was changed in code; ``widget.close()`` stops training.
    """

    _esm = traitlets.Unicode().tag(sync=True)
    _css = traitlets.Unicode().tag(sync=True)
    _html = traitlets.Unicode().tag(sync=True)
    _main = traitlets.Unicode().tag(sync=True)  # main.js, imports rewritten; widget.js imports it per view

    def __init__(self, playground: Playground | None = None, model=None, **kwargs):
        super().__init__(_esm=widget_esm(), _css=widget_css(), _html=page_body(), _main=main_source(),
                         **kwargs)
        self.lock = threading.RLock()
        self.pg = playground or Playground()
        self.limits = self.pg.limits
        self.viewer = Viewer(self.pg, self.limits)
        self.user_model = None
        self.closed = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._checksum = None
        if model is not None:
            self._bind(model)
        self.on_msg(self._on_custom)
        _live.add(self)

    # ---- the model ---------------------------------------------------------------------------------
    @property
    def playground(self) -> Playground:
        return self.pg

    @property
    def model(self):
        """The network the widget trains: the user's own object when ``show`` was given one."""
        return self.pg.model

    def _bind(self, model) -> None:
        try:
            self.pg.use_model(model)
        except ProtocolError as e:
            raise ValueError(str(e)) from None
        self.user_model = model
        self._checksum = self._weights_checksum()

    def _rebind(self) -> list[dict]:
        """After an action that rebuilt the session's network (Reset, new data, a new seed): the user's
        object takes the fresh weights and stays the network. If the widget changed the network's shape,
        the user's object cannot be it any more: say so."""
        user = self.user_model
        if user is None or self.pg.model is user:
            return []
        fresh = self.pg.model
        if list(fresh.sizes) == list(user.sizes) and list(fresh.activations) == list(user.activations):
            for mine, new in zip(user.parameters(), fresh.parameters()):
                np.copyto(mine.data, new.data)
                mine.grad = None
            self.pg.use_model(user)
            return []
        self.user_model = None
        return [{"type": "error", "field": "model",
                 "message": f"the network is now {'-'.join(map(str, fresh.sizes))}: your model object is no "
                            "longer the widget's (it keeps its last weights); widget.model is the new one"}]

    def _weights_checksum(self) -> int:
        c = 0
        for p in self.pg.model.parameters():
            c = zlib.crc32(np.ascontiguousarray(p.data).tobytes(), c)
        return c

    def refresh(self) -> None:
        """Redraw after the model was changed in code (weights set by hand, a training loop of your own)."""
        with self.lock:
            replies = self.pg.use_model(self.pg.model)
            self._checksum = self._weights_checksum()
            for msg in replies:
                self._emit(msg)

    def _after_cell(self, *_args) -> None:
        """IPython's post_run_cell: redraw if the cell changed the weights (and nothing is training)."""
        if self.closed or self.pg.playing:
            return
        with self.lock:
            changed = self._weights_checksum() != self._checksum
        if changed:
            self.refresh()

    # ---- sending -----------------------------------------------------------------------------------
    def _emit(self, msg: dict, reply_to: int | None = None) -> None:
        """One reply or frame to the front end (the caller holds the lock: frames go out in order)."""
        if self.closed or self.comm is None:
            return
        data = self.viewer.pack(msg, reply_to)
        if isinstance(data, bytes):
            self.send({"type": "frame"}, buffers=[data])
        else:
            self.send(json.loads(data))  # plain JSON: NaN -> null, as the server sends it

    @property
    def errors(self) -> int:
        """Internal errors so far (bugs, not bad input)."""
        return self.viewer.errors

    # ---- receiving ---------------------------------------------------------------------------------
    def _on_custom(self, _widget, content, buffers) -> None:
        self.handle(content)

    def handle(self, content) -> None:
        """Run one message from the front end; always answers (an error at worst)."""
        with self.lock:
            replies, reply_to = self.viewer.handle(content, action=self._act)
            for msg in replies:
                self._emit(msg, reply_to)
            self._checksum = self._weights_checksum()
            if self.pg.playing:
                self._start_training()

    def _act(self, valid: dict) -> list[dict]:
        if valid["type"] == "hello":
            return self._hello()
        return self.pg.handle(valid) + self._rebind()

    def _hello(self) -> list[dict]:
        """A view opened (or re-rendered): the kernel's session is the truth, so send it as it is, in
        full (a new view holds no earlier frame and no loss curve). The page's URL hash and weights
        are not the notebook's: hello's fields are ignored."""
        self.viewer.restart()
        lesson = [self.pg.course.message(self.pg)] if self.pg.course.lesson else []  # backlit.show(lesson=...)
        return [self.pg.state(schema=True), self.pg.points(), self.viewer.frame()] + lesson

    # ---- training ----------------------------------------------------------------------------------
    def _start_training(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._train_loop, name="backlit-widget-trainer", daemon=True)
            self._thread.start()
        self._wake.set()

    def pause(self) -> None:
        """Stop training (the Pause button, from code)."""
        with self.lock:
            if self.pg.playing:
                for msg in self.pg.pause():
                    self._emit(msg)

    def _train_loop(self) -> None:
        """While playing: train in short ticks (the lock is let go between them, so the kernel's
        messages get in), at the viewer's pace, and send a frame when the viewer says one is due."""
        lim, viewer = self.limits, self.viewer
        while not self.closed:
            if not self.pg.playing:
                self._wake.wait()
                self._wake.clear()
                viewer.pacer.reset()
                continue
            start = time.monotonic()
            interval = lim.frame_interval
            diverged: list[dict] = []
            with self.lock:
                due = viewer.due(start)
            while (due is None or due > 0) and time.monotonic() - start < lim.train_seconds_per_frame:
                with self.lock:
                    if not self.pg.playing or self.closed:
                        break
                    diverged, due = viewer.tick(lim.tick_seconds, due)
                if diverged:
                    break
                time.sleep(0)  # let the kernel's thread take the lock
            with self.lock:
                try:
                    for msg in diverged:
                        self._emit(msg)
                    if viewer.frame_due(diverged, interval):
                        self._emit(viewer.frame())
                        for msg in self.pg.lesson_poll():  # a lesson's live goal
                            self._emit(msg)
                    self._checksum = self._weights_checksum()
                except Exception as e:  # the comm failed under us: pause rather than spin
                    viewer.internal_error("sending a frame; pausing the session", e)
                    self.pg.playing = False
            time.sleep(max(0.0, interval - (time.monotonic() - start)))

    def close(self) -> None:
        """Stop training and close the widget (its views disappear)."""
        if not hasattr(self, "lock"):  # __init__ did not get that far
            return super().close()
        with self.lock:
            self.closed = True
            self.pg.playing = False
        self._wake.set()
        _live.discard(self)
        _unhook_cell(self)
        super().close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)


# ---- the kernel: interrupts and cells -----------------------------------------------------------------
def pause_all() -> None:
    """Pause every widget's training (a kernel interrupt does this)."""
    for w in list(_live):
        try:
            w.pause()
        except Exception:
            log.exception("could not pause a widget")


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


_hooked: "weakref.WeakKeyDictionary[PlaygroundWidget, object]" = weakref.WeakKeyDictionary()


def _hook_cell(widget: PlaygroundWidget) -> None:
    """After every cell: redraw a widget whose model the cell changed; pause all on KeyboardInterrupt."""
    ip = _ipython()
    if ip is None:
        return
    ref = weakref.ref(widget)

    def after(result=None):
        w = ref()
        if w is None:
            return
        if result is not None and isinstance(getattr(result, "error_in_exec", None), KeyboardInterrupt):
            w.pause()
            return
        w._after_cell()

    ip.events.register("post_run_cell", after)
    _hooked[widget] = after


def _unhook_cell(widget: PlaygroundWidget) -> None:
    after = _hooked.pop(widget, None)
    ip = _ipython()
    if after is not None and ip is not None:
        try:
            ip.events.unregister("post_run_cell", after)
        except ValueError:
            pass


def _install_interrupt_handler() -> None:
    """Pause training on a kernel interrupt that arrives while no cell runs.

    ipykernel ignores SIGINT between cells and, around each cell, saves the handler in
    ``kernel.saved_sigint_handler`` and puts it back afterwards: setting that attribute during a cell
    makes ours the between-cells handler. (During a cell the interrupt raises KeyboardInterrupt as usual;
    the post_run_cell hook pauses then.)"""
    ip = _ipython()
    kernel = getattr(ip, "kernel", None)
    if kernel is None or not hasattr(kernel, "saved_sigint_handler"):
        return
    previous = kernel.saved_sigint_handler
    if getattr(previous, "_backlit", False):
        return

    def on_interrupt(signum, frame):
        pause_all()
        if callable(previous):
            previous(signum, frame)

    on_interrupt._backlit = True
    kernel.saved_sigint_handler = on_interrupt


# ---- backlit.show --------------------------------------------------------------------------------------
def config_for_model(model, data=None, config: dict | None = None) -> dict:
    """A playground config whose network is ``model``'s shape: input features, hidden sizes, activation,
    init, and a dataset whose kind fits the outputs. Raises ValueError saying what does not fit."""
    from .. import nn

    if not isinstance(model, nn.MLP):
        raise ValueError(f"backlit.show(model): model must be a backlit.nn.MLP, got {type(model).__name__}")
    sizes, acts = list(model.sizes), list(model.activations)
    if acts[-1] != "linear":
        raise ValueError("backlit.show needs a model with raw outputs (output_activation=None): the loss "
                         f"applies the output function; this one ends in {acts[-1]!r}")
    hidden_acts = set(acts[:-1])
    if len(hidden_acts) > 1:
        raise ValueError(f"the playground uses one activation for every hidden layer; this model has {acts[:-1]}")
    features = list(getattr(model, "meta", {}).get("features") or list(data_module.FEATURES)[:sizes[0]])
    if len(features) != sizes[0]:
        raise ValueError(f"the model takes {sizes[0]} inputs; the playground has at most "
                         f"{len(data_module.FEATURES)} input features ({', '.join(data_module.FEATURES)})")
    cfg = {"features": features, "hidden": sizes[1:-1], "init": model.init}
    if hidden_acts:
        cfg["activation"] = acts[0]
    n_out = sizes[-1]
    if isinstance(data, str):
        cfg["dataset"] = data
    elif data is None:
        cfg["dataset"] = "circle" if n_out == 1 else "blobs"
    if n_out > 1:
        cfg["classes"] = n_out
    cfg.update(config or {})
    return cfg


def _data_kind(y: np.ndarray) -> tuple[str, int | None]:
    if np.issubdtype(y.dtype, np.floating) and not np.all(y == np.round(y)):
        return "regression", None
    k = int(y.max()) + 1 if len(y) else 2
    return ("binary", 2) if k <= 2 else ("multiclass", k)


def build_playground(model=None, data=None, **config) -> Playground:
    """The session ``show`` wraps: config (checked), data (a dataset name or arrays X, y), model."""
    cfg = dict(config)
    arrays = None
    if data is not None and not isinstance(data, str):
        try:
            X, y = data
        except (TypeError, ValueError):
            raise ValueError("data must be a dataset name (e.g. 'xor') or a pair of arrays (X, y)") from None
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        if X.ndim != 2 or X.shape[1] != 2 or y.shape != (len(X),):
            raise ValueError(f"data: X must be (n, 2) points on the plane and y (n,) labels or values; got "
                             f"X {X.shape}, y {y.shape}")
        kind, classes = _data_kind(y)
        arrays = (X, y, kind)
        default = {"binary": "circle", "multiclass": "blobs", "regression": "plane"}[kind]
        cfg.setdefault("dataset", default)
        if classes and classes > 2:
            cfg["classes"] = classes
    if model is not None:
        cfg = config_for_model(model, data if isinstance(data, str) else None, cfg)
    elif isinstance(data, str):
        cfg["dataset"] = data
    try:
        pg = Playground(cfg)
        if arrays is not None:
            from ..playground import csvdata

            X, y, kind = arrays
            pg.load_csv(csvdata.to_csv(X, y, kind))
        if model is not None and list(pg.sizes) != list(model.sizes):
            raise ValueError(f"the model is {'-'.join(map(str, model.sizes))} but the data needs "
                             f"{pg.sizes[-1]} output(s) ({pg.kind}): a network of "
                             f"{'-'.join(map(str, pg.sizes))}")
    except ProtocolError as e:
        raise ValueError(f"backlit.show: {e.field}: {e}") from None
    return pg


_current: "weakref.ref[PlaygroundWidget] | None" = None


def show(model=None, data=None, **config) -> PlaygroundWidget:
    """The playground as a notebook widget (see ``backlit.show``)."""
    global _current
    lesson = config.pop("lesson", None)
    pg = build_playground(model, data, **config)
    if lesson is not None:
        pg.lesson_open(lesson)  # an unknown name raises, naming the lessons
    previous = _current() if _current is not None else None
    if previous is not None and not previous.closed:
        previous.close()  # one widget per page: the page's modules find their elements by id
    widget = PlaygroundWidget(pg, model=model)
    _current = weakref.ref(widget)
    _hook_cell(widget)
    _install_interrupt_handler()
    return widget
