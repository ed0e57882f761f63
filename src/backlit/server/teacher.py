"""The teacher's view: the class at a glance, and a few actions on every tab at once.

``/teacher`` is guarded by its own key, printed only in the teacher's terminal (``/teacher?key=…``);
the first visit with it sets an HttpOnly, SameSite=Strict cookie that is an HMAC of the key, as the
class cookie is of the class code. A student's class cookie opens nothing here, and nothing a student
is sent contains the key.

Every worker process keeps a :class:`Classroom`: once a second it writes a summary of each of its
sessions (read on the event loop, never while the session's own work runs in a thread) (name, status, epoch, losses, accuracy, a 16×16 thumbnail of the boundary) to the store, and
applies the teacher's new commands to its sessions. The commands are ordinary protocol messages put in
a session's queue (``pause``, ``play``, ``load`` with a saved session file), so they are validated and
charged exactly as the student's own messages are. With ``--workers N`` (and with Redis, with several
machines) the teacher sees every worker's sessions, and every worker obeys.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import secrets
import time
from pathlib import Path

import numpy as np
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ..lab import data as data_module
from ..lab import trace
from ..playground import lessons, palette
from .classroom import CODE_ALPHABET, Gate
from .store import LIVE_TTL, Store

log = logging.getLogger("backlit.server")

COOKIE = "backlit_teacher"
KEY_LENGTH = 20
REPORT_EVERY = 1.0        # seconds between a worker's summaries
POLL_EVERY = 0.25         # seconds between its looks for new commands (a push lands within ~0.3 s)
THUMB = 16                # the boundary thumbnail: THUMB × THUMB cells
SPOTLIGHT = 48            # the spotlit tab's boundary: SPOTLIGHT × SPOTLIGHT cells
MAX_COMMAND_BYTES = 300 * 1024
ACTIONS = ("pause_all", "resume_all", "push", "spotlight", "lesson")
WEB = Path(__file__).resolve().parents[1] / "web" / "teacher"
FILES = {"teacher.js": "text/javascript", "teacher.css": "text/css", "spotlight.js": "text/javascript"}


def new_key() -> str:
    """A fresh teacher key: 20 characters, far beyond guessing (and rate-limited all the same)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(KEY_LENGTH))


def lesson_label(pg) -> str | None:
    """Where a tab is in the course ("The chain rule · step 2 of 4"), or None in free play."""
    course = getattr(pg, "course", None)
    if course is None or not course.lesson:
        return None
    lesson = lessons.LESSONS[course.lesson]
    return f"{lesson.title} · step {course.step + 1} of {len(lesson.steps)}"


def csv_cell(value) -> str:
    """A cell a spreadsheet shows as text: one that starts with = + - @ (or a tab or carriage return)
    would be read as a formula, so it gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class Classroom:
    """One worker's side of the class: its sessions' summaries out, the teacher's commands in."""

    def __init__(self, store: Store, worker: str | None = None, clock=time.monotonic):
        self.store = store
        self.worker = worker or f"w{os.getpid()}"
        self.clock = clock
        self.sessions: dict[str, object] = {}     # tab id -> server Session
        self.students: dict[str, str | None] = {}  # tab id -> student id
        self._count = 0
        self._task: asyncio.Task | None = None
        self._seen = max((c["version"] for c in store.commands_since(0)), default=0)
        self._thumbs: dict[tuple[str, int], tuple[int, dict]] = {}
        self.spotlight: str | None = None     # the tab the projector shows: its summary carries the network
        self._reported = -1e9
        self._last: dict[str, dict] = {}
        self._done: dict[str, dict[str, set]] = {}     # tab -> the course steps already recorded
        self._progress: list[tuple] = []               # (student, lesson, step) to record

    # -- sessions come and go ---------------------------------------------------------------------

    def attach(self, session, student: str | None) -> str:
        self._count += 1
        tab = f"{self.worker}-{self._count}"
        self.sessions[tab] = session
        self.students[tab] = student
        session.tab = tab
        if student:
            self.store.join(student)
        self.ensure_running()
        return tab

    def detach(self, session) -> None:
        tab = getattr(session, "tab", None)
        if tab in self.sessions:
            del self.sessions[tab]
            self.students.pop(tab, None)
            self._last.pop(tab, None)
            self._done.pop(tab, None)
            for side in (THUMB, SPOTLIGHT):
                self._thumbs.pop((tab, side), None)
            try:
                self.store.forget(tab)
            except Exception:
                log.warning("the class store did not answer", exc_info=True)

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self.run())
            except RuntimeError:    # no loop (a test calling attach directly): the caller ticks
                self._task = None

    # -- the loop ---------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.sessions:
            try:
                for command in await loop.run_in_executor(None, self.store.commands_since, self._seen):
                    self._seen = command["version"]
                    self.apply(command)
                if self.clock() - self._reported >= REPORT_EVERY:
                    self._reported = self.clock()
                    roster = await loop.run_in_executor(None, self.store.roster)
                    reports = [(tab, self._summary_now(tab, session, roster))
                               for tab, session in list(self.sessions.items())]
                    await loop.run_in_executor(None, self._report, reports)
            except Exception:
                log.warning("the class store did not answer", exc_info=True)
            await asyncio.sleep(POLL_EVERY)

    def _summary_now(self, tab: str, session, roster: dict) -> dict:
        """A fresh summary, or the last one while the session is busy (its message or frame is running
        in a pool thread: its state is not to be read half-changed)."""
        lock = getattr(session, "lock", None)
        if lock is not None and lock.locked() and tab in self._last:
            return self._last[tab]
        self._last[tab] = self.summary(tab, session, roster)
        self._progress.extend(self._newly_done(tab, session))
        return self._last[tab]

    def _newly_done(self, tab: str, session) -> list[tuple]:
        """(student, lesson, step) for each course step this tab finished since the last report."""
        pg = getattr(session.pg, "parent", None) or session.pg
        course, student = getattr(pg, "course", None), self.students.get(tab)
        if course is None or student is None:
            return []
        seen = self._done.setdefault(tab, {k: set(v) for k, v in course.done.items()})
        new = [(student, lesson, step) for lesson, steps in course.done.items()
               for step in sorted(steps) if step not in seen.get(lesson, set())]
        for _, lesson, step in new:
            seen.setdefault(lesson, set()).add(step)
        return new

    def _report(self, reports) -> None:
        progress, self._progress = self._progress, []
        for student, lesson, step in progress:
            self.store.record_progress(student, lesson, step, True)
        for tab, summary in reports:
            if tab in self.sessions:
                self.store.report(tab, summary, ttl=LIVE_TTL)

    def tick(self) -> None:
        """Apply new commands and report every session at once (for callers without an event loop)."""
        for command in self.store.commands_since(self._seen):
            self._seen = command["version"]
            self.apply(command)
        self._reported = self.clock()
        roster = self.store.roster()
        self._report([(tab, self._summary_now(tab, session, roster)) for tab, session in list(self.sessions.items())])

    def summary(self, tab: str, session, roster: dict) -> dict:
        pg = getattr(session.pg, "parent", None) or session.pg   # a tab in the images view: its plane
        student = self.students.get(tab)
        m = pg.metrics()
        finite = lambda v: None if v is None or not np.isfinite(v) else round(float(v), 5)  # noqa: E731
        return {"tab": tab, "student": student, "name": (roster.get(student) or {}).get("name"),
                "worker": self.worker, "status": pg.status, "playing": bool(pg.playing),
                "epoch": round(float(pg.epoch), 3), "train_loss": finite(m["train_loss"]),
                "test_loss": finite(m["test_loss"]), "test_acc": finite(m["test_acc"]),
                "dataset": pg.config.get("dataset"), "hidden": list(pg.config.get("hidden", [])),
                "lesson": lesson_label(pg),
                "thumb": self.thumbnail(tab, pg, THUMB),
                **({"detail": self.detail(tab, pg)} if tab == self.spotlight else {})}

    def detail(self, tab: str, pg) -> dict:
        """What the projector draws of the spotlit tab: the network's weights and a finer boundary."""
        model = pg.model
        return {"sizes": list(model.sizes), "features": list(pg.config["features"]),
                "activation": pg.config.get("activation"),
                "weights": [np.round(lin.weight.data, 5).tolist() for lin in model.linears],
                "biases": [np.round(lin.bias.data, 5).tolist() for lin in model.linears],
                "boundary": self.thumbnail(tab, pg, SPOTLIGHT)}

    def thumbnail(self, tab: str, pg, side: int) -> dict:
        """The boundary on a side × side grid, as the page's plane draws it: a class index per cell
        (classification) or a value scaled to 0..255 (regression, binary scores through tanh)."""
        version = getattr(pg, "_version", None)
        cached = self._thumbs.get((tab, side))
        if cached is not None and version is not None and cached[0] == version:
            return cached[1]
        g = trace.grid(pg.model, extent=data_module.EXTENT, resolution=side, neuron_resolution=2,
                       features=pg.config["features"])
        out = g.output.reshape(side * side, -1)
        if out.shape[1] > 1:
            cells, kind = out.argmax(axis=1).tolist(), "classes"
        else:
            cells, kind = np.round((np.tanh(out[:, 0]) + 1) * 127.5).astype(int).tolist(), "score"
        thumb = {"side": side, "kind": kind, "cells": cells}
        if version is not None:
            self._thumbs[(tab, side)] = (version, thumb)
        return thumb

    def apply(self, command: dict) -> None:
        """A teacher's command, as protocol messages queued on each session it concerns."""
        if command["action"] == "spotlight":
            self.spotlight = command["payload"].get("tab")
            self._reported = -1e9       # report at once: the projector is waiting
            return
        message = {"pause_all": {"type": "pause"}, "resume_all": {"type": "play"},
                   "push": {"type": "load", "session": command["payload"].get("session")},
                   "lesson": {"type": "lesson_open", "lesson": command["payload"].get("lesson")}}.get(command["action"])
        if message is None:
            return
        raw = json.dumps(message)
        for tab, session in list(self.sessions.items()):
            if command["student"] in (None, self.students.get(tab)):
                session.receive(raw)


def routes(store: Store, key: str, classroom_info: dict) -> list[Route]:
    """The teacher's routes. ``classroom_info``: what the teacher page shows of the class (join URL,
    class code or None)."""
    gate = Gate(None, key)     # the same cookie signing and wrong-key rate limit as the class code

    def teacher(request: Request) -> bool:
        return gate.student_of(request.cookies.get(COOKIE)) is not None

    def refused() -> Response:
        return PlainTextResponse("This is the teacher's view: open the link printed in the teacher's "
                                 "terminal (/teacher?key=...).", status_code=401)

    async def page(request: Request):
        given = request.query_params.get("key")
        if given is not None and not teacher(request):
            address = request.client.host if request.client else "?"
            verdict = gate.try_code(address, given)
            if verdict == "locked":
                return PlainTextResponse("Too many wrong keys from this device; wait a minute.", status_code=429)
            if verdict == "ok":
                secure = request.url.scheme == "https"
                here = request.scope.get("root_path", "") + "/teacher"
                response = RedirectResponse(here, status_code=303)
                response.set_cookie(COOKIE, gate.cookie_value(), max_age=12 * 3600, path=here,
                                    httponly=True, samesite="strict", secure=secure)
                return response
        if not teacher(request):
            return refused()
        return FileResponse(WEB / "index.html", media_type="text/html")

    async def spotlight(request: Request):
        if not teacher(request):
            return refused()
        return FileResponse(WEB / "spotlight.html", media_type="text/html")

    async def asset(request: Request):
        name = request.path_params["name"]
        if name not in FILES or not teacher(request):
            return refused() if name in FILES else PlainTextResponse("Not found", status_code=404)
        return FileResponse(WEB / name, media_type=FILES[name])

    async def qr(request: Request):
        if not teacher(request) or not classroom_info.get("join_url"):
            return refused()
        import segno

        out = io.BytesIO()
        segno.make(classroom_info["join_url"], error="m").save(out, kind="svg", scale=6, border=2)
        return Response(out.getvalue(), media_type="image/svg+xml")

    async def class_state(request: Request):
        if not teacher(request):
            return refused()
        loop = asyncio.get_running_loop()
        live, roster = await loop.run_in_executor(None, lambda: (store.live(), store.roster()))
        sessions = sorted(live.values(), key=lambda s: (s.get("name") or "~", s.get("tab") or ""))
        seen: dict[str, int] = {}
        for n, s in enumerate(sessions, 1):
            label = s.get("name") or f"tab {n}"
            seen[label] = seen.get(label, 0) + 1
            s["label"] = label if seen[label] == 1 else f"{label} ({seen[label]})"   # two Adas apart
        return JSONResponse({"join_url": classroom_info.get("join_url"), "code": classroom_info.get("code"),
                             "sessions": sessions, "students": len(roster),
                             "palette": palette.to_dict(),
                             "lessons": [{"name": le.name, "title": le.title} for le in lessons.LESSONS.values()]})

    async def command(request: Request):
        if not teacher(request):
            return refused()
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/").split("//", 1)[-1] != request.headers.get("host"):
            return JSONResponse({"error": "commands come from the teacher's own page"}, status_code=403)
        body = await request.body()
        if len(body) > MAX_COMMAND_BYTES:
            return JSONResponse({"error": f"a command is at most {MAX_COMMAND_BYTES // 1024} KiB"}, status_code=413)
        try:
            msg = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "a command is a JSON object"}, status_code=400)
        if not isinstance(msg, dict) or msg.get("action") not in ACTIONS:
            return JSONResponse({"error": f"action must be one of {', '.join(ACTIONS)}"}, status_code=400)
        student = msg.get("student")
        if student is not None and not (isinstance(student, str) and len(student) <= 32):
            return JSONResponse({"error": "student must be a student id from the class list"}, status_code=400)
        payload = {}
        if msg["action"] == "push":
            session = msg.get("session")
            if not isinstance(session, dict) or session.get("format") != "backlit.session":
                return JSONResponse({"error": "push takes a session file saved from the playground "
                                              "(Save), as {\"session\": {...}}"}, status_code=400)
            payload = {"session": session}
        elif msg["action"] == "lesson":
            if msg.get("lesson") not in lessons.LESSONS:
                return JSONResponse({"error": "lesson must be one of the course's lessons"}, status_code=400)
            payload = {"lesson": msg["lesson"]}
        elif msg["action"] == "spotlight":
            tab = msg.get("tab")
            if tab is not None and not (isinstance(tab, str) and len(tab) <= 40):
                return JSONResponse({"error": "tab must be a tab from the class list"}, status_code=400)
            payload = {"tab": tab}
        version = await asyncio.get_running_loop().run_in_executor(
            None, store.post_command, msg["action"], payload, student)
        return JSONResponse({"version": version, "action": msg["action"]})

    async def progress_csv(request: Request):
        if not teacher(request):
            return refused()
        roster, rows = await asyncio.get_running_loop().run_in_executor(
            None, lambda: (store.roster(), store.progress()))
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["student", "name", "joined", "lesson", "step", "done", "at"])
        for r in rows:
            who = roster.get(r["student"], {})
            w.writerow([csv_cell(v) for v in (r["student"], who.get("name"), _iso(who.get("joined")),
                                              r["lesson"], r["step"], r["done"], _iso(r["at"]))])
        for student, who in roster.items():
            if not any(r["student"] == student for r in rows):
                w.writerow([csv_cell(v) for v in (student, who.get("name"), _iso(who.get("joined")), "", "", "", "")])
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"content-disposition": 'attachment; filename="class-progress.csv"'})

    return [
        Route("/teacher", page),
        Route("/teacher/class", class_state),
        Route("/teacher/command", command, methods=["POST"]),
        Route("/teacher/progress.csv", progress_csv),
        Route("/teacher/qr.svg", qr),
        Route("/teacher/spotlight", spotlight),
        Route("/teacher/{name}", asset),
    ]


def _iso(t) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


__all__ = ["Classroom", "routes", "new_key", "csv_cell"]
