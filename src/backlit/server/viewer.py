"""One viewer of a playground session: the rules every adapter shares.

A viewer is whoever watches one :class:`~backlit.playground.session.Playground`: a browser tab over a
WebSocket (app.py) or a notebook widget over its comm (notebook.py). The adapters differ only in how
they wait (asyncio and a CPU budget, or a thread and a lock) and how bytes travel; everything about
*what* a viewer is sent lives here:

- checking a message (``check``) and running it (``act``), with every failure one error reply;
- its place in the loss history (a ``HistoryCursor``), its frame encoder (what it already holds),
  its training pace (a ``Pacer``) and its flow control (frames drawn, frames in flight);
- the rule for when a training frame is wanted (``frame_due``), and one training tick (``tick``).

No reply is bigger than it needs to be: an error reply is cut to ``MAX_ERROR_BYTES`` (its message
shortened, its lists to their first entries, with counts kept).
"""

from __future__ import annotations

import logging
import time

from ..playground.pacing import Pacer
from ..playground.session import EXPORTS, HistoryCursor, Playground
from ..playground.settings import Limits, ProtocolError
from . import protocol as P

log = logging.getLogger("backlit.server")

MAX_ERROR_BYTES = 8192
"""The most an error reply takes on the wire (JSON text): a few problems, spelled out, and counts."""
_SHOWN = 20  # entries kept of each list in an error reply cut to size


def internal_error(exc: BaseException) -> dict:
    return {"type": "error", "field": None,
            "message": f"internal error ({type(exc).__name__}); the session goes on"}


def one_error(replies: list[dict]) -> list[dict]:
    """At most one error reply per message (first), listing every bad field."""
    errors = [r for r in replies if r.get("type") == "error"]
    if len(errors) <= 1:
        return replies
    return [P.merge_errors(errors)] + [r for r in replies if r.get("type") != "error"]


def bounded_error(msg: dict, text: str) -> str:
    """An error reply's JSON text, cut to at most MAX_ERROR_BYTES: lists to their first entries
    (``count`` keeps how many there were), the message to its first lines."""
    if len(text) <= MAX_ERROR_BYTES:
        return text
    out = {}
    for key, value in msg.items():
        if isinstance(value, list):
            out[key] = value[:_SHOWN]
            out.setdefault(f"{key}_count", len(value))
        elif isinstance(value, str) and len(value) > 1000:
            out[key] = value[:1000] + " …"
        else:
            out[key] = value
    text = P.encode(out)
    if len(text) > MAX_ERROR_BYTES:  # still too big (long strings in the lists): the message alone
        text = P.encode({k: out[k] for k in ("type", "field", "message", "reply_to") if k in out})
    return text[:MAX_ERROR_BYTES] if len(text) > MAX_ERROR_BYTES else text


class Viewer:
    """What one tab or widget has been sent, and the rules for what it is sent next.

    ``on_internal_error`` is called once per internal error (a bug, not bad input), after it was logged.
    """

    def __init__(self, pg: Playground, limits: Limits | None = None, compact: bool = True,
                 on_internal_error=None):
        self.pg = pg
        self.limits = limits or pg.limits
        self.compact = compact
        self.on_internal_error = on_internal_error
        self.errors = 0
        self.pacer = Pacer()  # this viewer's training pace (the speed setting)
        self.acks = False  # the page acknowledges frames ("drawn"): send training frames ahead of it
        self.sent_step = -1  # the step of the last frame sent: a paced session sends no repeat frames
        self.last_frame = 0.0
        self.restart()

    def restart(self) -> None:
        """A fresh view that holds nothing yet: no earlier frame, no loss curve, nothing in flight."""
        self.encoder = P.FrameEncoder(compact=self.compact)  # remembers what this viewer was sent
        self.history = HistoryCursor()  # this viewer's place in the session's loss history
        self.in_flight = 0

    def internal_error(self, what: str, exc: BaseException) -> dict:
        self.errors += 1
        log.error("internal error while %s", what, exc_info=(type(exc), exc, exc.__traceback__))
        if self.on_internal_error is not None:
            self.on_internal_error()
        return internal_error(exc)

    # ---- messages in --------------------------------------------------------------------------
    def check(self, message, decode: bool = False) -> tuple[dict | None, list[dict], int | None]:
        """(the validated message, or None; error replies; the id to reply to). ``decode``: the
        message is a raw frame (text), parsed here within the message limit. A "drawn" ack is taken
        here: it gives (None, [], id)."""
        reply_to = None
        try:
            if decode:
                message = P.decode(message, self.limits.max_message_bytes)
            reply_to = P.message_id(message)
            valid = P.validate(message)
            if valid["type"] == "export" and valid["format"] not in EXPORTS:
                raise ProtocolError("format", f"format must be one of {', '.join(EXPORTS)}; "
                                              f"got {valid['format']!r}")
        except ProtocolError as e:
            return None, [e.reply()], reply_to
        except Exception as e:  # a bug, not bad input
            return None, [self.internal_error("checking a message", e)], reply_to
        if valid["type"] == "drawn":
            self.drawn(valid.get("frames", 1))
            return None, [], reply_to
        return valid, [], reply_to

    def act(self, valid: dict, action=None) -> list[dict]:
        """Run a validated message (``action``, or the session's own handler); always returns replies,
        with at most one error among them."""
        try:
            replies = (action or self.pg.handle)(valid)
        except ProtocolError as e:
            replies = [e.reply()]
        except Exception as e:  # a bug, not bad input: keep the session alive and say so
            replies = [self.internal_error("handling a message", e)]
        return one_error(replies)

    def handle(self, message, decode: bool = False, action=None) -> tuple[list[dict], int | None]:
        """``check`` then ``act``: the replies to one message and the id they answer."""
        valid, replies, reply_to = self.check(message, decode)
        if valid is not None:
            replies = self.act(valid, action)
        return replies, reply_to

    def drawn(self, frames: int) -> None:
        self.acks = True
        self.in_flight = max(0, self.in_flight - frames)

    # ---- messages out -------------------------------------------------------------------------
    def pack(self, msg: dict, reply_to: int | None = None) -> bytes | str:
        """One reply as it goes on the wire: a frame as bytes (with the loss-curve rows this viewer has
        not seen), anything else as JSON text (an error cut to MAX_ERROR_BYTES). Pack in the order
        of sending: the encoder leaves out what the viewer already holds."""
        if msg.get("type") == "frame":
            header = {**msg["header"], **self.pg.history_since(self.history)}
            self.sent_step = header.get("step")
            if reply_to is not None:
                header["reply_to"] = reply_to
            data = self.encoder.encode(header, msg["arrays"])
            self.in_flight += 1
            self.last_frame = time.monotonic()
            return data
        if reply_to is not None:
            msg = {**msg, "reply_to": reply_to}
        text = P.encode(msg)
        return bounded_error(msg, text) if msg.get("type") == "error" else text

    # ---- training -----------------------------------------------------------------------------
    def frame_wanted(self) -> bool:
        """Flow control: a page that acknowledges frames gets at most ``frames_in_flight`` ahead."""
        return not self.acks or self.in_flight < self.limits.frames_in_flight

    def frame_due(self, diverged: list, interval: float) -> bool:
        """After a tick: is a training frame to be sent now? Always after a divergence; else only
        while playing, for a new step, half an interval after the last frame, if the page wants one."""
        if diverged:
            return True
        return (self.pg.playing and self.pg.step_count != self.sent_step
                and time.monotonic() - self.last_frame >= interval * 0.5 and self.frame_wanted())

    def due(self, now: float) -> int | None:
        """Steps due now at this viewer's pace (None: as fast as it goes)."""
        return self.pacer.due(self.pg.config["speed"], now)

    def tick(self, seconds: float, due: int | None) -> tuple[list[dict], int | None]:
        """Train for at most ``seconds`` (and ``due`` steps): (the replies if it diverged or failed, the
        steps still due). An internal error pauses the session and says so."""
        try:
            before = self.pg.step_count
            diverged = self.pg.train_for(seconds, max_steps=10**9 if due is None else due)
            if due is not None:
                ran = max(self.pg.step_count - before, 1)
                self.pacer.spend(ran)
                due -= ran
            return diverged, due
        except Exception as e:
            self.internal_error("training; pausing the session", e)
            self.pg.playing = False
            return [self.pg.state()], due

    def frame(self) -> dict:
        """The session's current frame, as a reply; an internal error pauses the session (its state)."""
        try:
            header, arrays = self.pg.frame()
        except Exception as e:
            self.internal_error("drawing a frame; pausing the session", e)
            self.pg.playing = False
            return self.pg.state()
        return {"type": "frame", "header": header, "arrays": arrays}
