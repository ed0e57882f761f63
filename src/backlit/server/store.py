"""What a classroom must keep beyond one process: the roster, progress through the course, the setups
a teacher pushed, and a live summary of every session (so that a teacher sees every worker's tabs).

Two stores with one interface, chosen by URL (``backlit serve --store URL``):

- ``sqlite:///path/to/class.db`` (the default for a class): one file, the standard library's sqlite3
  in WAL mode, so several worker processes on one machine share it and a restart loses nothing;
- ``redis://host:port/db``: the same across machines (the ``redis`` client; ``pip install redis``).

Sessions themselves stay in their worker's memory; a tab that lands on another worker restores itself
through ``hello``. Live summaries expire: a worker that dies stops refreshing its sessions' summaries,
and they drop out of :meth:`Store.live` after ``ttl`` seconds.

Every value stored is JSON; every method is safe to call from several threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from urllib.parse import urlsplit

LIVE_TTL = 10.0          # seconds a live summary stays without a refresh
MAX_NAME = 40            # a student's display name, at most


def _name(name) -> str | None:
    if name is None:
        return None
    name = " ".join(str(name).split())[:MAX_NAME]
    return name or None


class Store:
    """The interface. ``student`` is the class cookie's student id; ``session`` a tab's id."""

    def join(self, student: str, name: str | None = None) -> None:
        """Add ``student`` to the roster (or rename them when ``name`` is given)."""
        raise NotImplementedError

    def roster(self) -> dict[str, dict]:
        """student -> {"name", "joined"}."""
        raise NotImplementedError

    def record_progress(self, student: str, lesson: str, step: int, done: bool, detail=None) -> None:
        raise NotImplementedError

    def progress(self, student: str | None = None) -> list[dict]:
        """Rows {"student", "lesson", "step", "done", "detail", "at"}, oldest first."""
        raise NotImplementedError

    def push_setup(self, setup: dict, student: str | None = None) -> int:
        """Store a setup for everyone (``student=None``) or one student; returns its version."""
        raise NotImplementedError

    def setup_for(self, student: str) -> tuple[int, dict] | None:
        """The newest setup pushed to this student or to everyone: (version, setup), or None."""
        raise NotImplementedError

    def post_command(self, action: str, payload: dict | None = None, student: str | None = None) -> int:
        """A teacher's command (pause, resume, push, ...) for every session, or one student's; every
        worker applies each command once. Returns its version."""
        raise NotImplementedError

    def commands_since(self, version: int) -> list[dict]:
        """Commands newer than ``version``, oldest first: {"version", "action", "payload", "student"}."""
        raise NotImplementedError

    def report(self, session: str, summary: dict, ttl: float = LIVE_TTL) -> None:
        """A session's live summary (loss, accuracy, epoch, status, student, ...), valid for ``ttl`` s."""
        raise NotImplementedError

    def forget(self, session: str) -> None:
        raise NotImplementedError

    def live(self) -> dict[str, dict]:
        """session -> its latest unexpired summary."""
        raise NotImplementedError

    def remembered(self, name: str, make) -> str:
        """The value kept under ``name`` (the class code, the teacher key), made by ``make()`` and kept
        the first time: a restarted server keeps its code, so students' cookies stay valid."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class SQLiteStore(Store):
    """One SQLite file in WAL mode (readers never wait for the writer)."""

    def __init__(self, path: str, clock=time.time):
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=10, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript("""
                CREATE TABLE IF NOT EXISTS roster (student TEXT PRIMARY KEY, name TEXT, joined REAL);
                CREATE TABLE IF NOT EXISTS progress (id INTEGER PRIMARY KEY AUTOINCREMENT, student TEXT,
                    lesson TEXT, step INTEGER, done INTEGER, detail TEXT, at REAL);
                CREATE TABLE IF NOT EXISTS setups (version INTEGER PRIMARY KEY AUTOINCREMENT,
                    student TEXT, setup TEXT, at REAL);
                CREATE TABLE IF NOT EXISTS live (session TEXT PRIMARY KEY, summary TEXT, expires REAL);
                CREATE TABLE IF NOT EXISTS commands (version INTEGER PRIMARY KEY AUTOINCREMENT,
                    action TEXT, payload TEXT, student TEXT, at REAL);
                CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
            """)

    def _run(self, sql: str, args=()):
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def join(self, student, name=None):
        name = _name(name)
        self._run("INSERT INTO roster (student, name, joined) VALUES (?, ?, ?) ON CONFLICT(student) DO "
                  "UPDATE SET name = COALESCE(excluded.name, roster.name)", (student, name, self.clock()))

    def roster(self):
        return {s: {"name": n, "joined": j} for s, n, j in self._run("SELECT student, name, joined FROM roster")}

    def record_progress(self, student, lesson, step, done, detail=None):
        self._run("INSERT INTO progress (student, lesson, step, done, detail, at) VALUES (?, ?, ?, ?, ?, ?)",
                  (student, str(lesson), int(step), int(bool(done)), json.dumps(detail), self.clock()))

    def progress(self, student=None):
        sql = "SELECT student, lesson, step, done, detail, at FROM progress"
        rows = self._run(sql + (" WHERE student = ? ORDER BY id" if student else " ORDER BY id"),
                         (student,) if student else ())
        return [{"student": s, "lesson": le, "step": st, "done": bool(d), "detail": json.loads(de), "at": at}
                for s, le, st, d, de, at in rows]

    def push_setup(self, setup, student=None):
        with self._lock:
            cur = self._db.execute("INSERT INTO setups (student, setup, at) VALUES (?, ?, ?)",
                                   (student, json.dumps(setup), self.clock()))
            return int(cur.lastrowid)

    def setup_for(self, student):
        rows = self._run("SELECT version, setup FROM setups WHERE student IS NULL OR student = ? "
                         "ORDER BY version DESC LIMIT 1", (student,))
        return (int(rows[0][0]), json.loads(rows[0][1])) if rows else None

    def post_command(self, action, payload=None, student=None):
        with self._lock:
            cur = self._db.execute("INSERT INTO commands (action, payload, student, at) VALUES (?, ?, ?, ?)",
                                   (action, json.dumps(payload or {}), student, self.clock()))
            return int(cur.lastrowid)

    def commands_since(self, version):
        rows = self._run("SELECT version, action, payload, student FROM commands WHERE version > ? "
                         "ORDER BY version LIMIT 100", (int(version),))
        return [{"version": v, "action": a, "payload": json.loads(p), "student": s} for v, a, p, s in rows]

    def report(self, session, summary, ttl=LIVE_TTL):
        self._run("INSERT INTO live (session, summary, expires) VALUES (?, ?, ?) ON CONFLICT(session) DO "
                  "UPDATE SET summary = excluded.summary, expires = excluded.expires",
                  (session, json.dumps(summary), self.clock() + ttl))

    def forget(self, session):
        self._run("DELETE FROM live WHERE session = ?", (session,))

    def live(self):
        now = self.clock()
        self._run("DELETE FROM live WHERE expires < ?", (now,))
        return {s: json.loads(v) for s, v in self._run("SELECT session, summary FROM live WHERE expires >= ?", (now,))}

    def remembered(self, name, make):
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, make()))
            return self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()[0]

    def close(self):
        with self._lock:
            self._db.close()


class RedisStore(Store):
    """The same in Redis: a hash for the roster, a list for progress, a counter and a hash for setups,
    and one key per live summary with its TTL (Redis expires them itself)."""

    def __init__(self, url: str, prefix: str = "backlit:"):
        try:
            import redis
        except ImportError:
            raise ImportError("--store redis://... needs the redis client: pip install redis") from None
        self._r = redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
        self._p = prefix

    def join(self, student, name=None):
        key = self._p + "roster"
        old = self._r.hget(key, student)
        entry = json.loads(old) if old else {"name": None, "joined": time.time()}
        if _name(name):
            entry["name"] = _name(name)
        self._r.hset(key, student, json.dumps(entry))

    def roster(self):
        return {s: json.loads(v) for s, v in self._r.hgetall(self._p + "roster").items()}

    def record_progress(self, student, lesson, step, done, detail=None):
        row = {"student": student, "lesson": str(lesson), "step": int(step), "done": bool(done),
               "detail": detail, "at": time.time()}
        self._r.rpush(self._p + "progress", json.dumps(row))

    def progress(self, student=None):
        rows = [json.loads(v) for v in self._r.lrange(self._p + "progress", 0, -1)]
        return [r for r in rows if student is None or r["student"] == student]

    def push_setup(self, setup, student=None):
        version = int(self._r.incr(self._p + "setup:version"))
        self._r.hset(self._p + "setups", "*" if student is None else student,
                     json.dumps({"version": version, "setup": setup}))
        return version

    def setup_for(self, student):
        found = [json.loads(v) for v in self._r.hmget(self._p + "setups", ["*", student]) if v]
        if not found:
            return None
        best = max(found, key=lambda e: e["version"])
        return best["version"], best["setup"]

    def post_command(self, action, payload=None, student=None):
        version = int(self._r.incr(self._p + "command:version"))
        entry = {"version": version, "action": action, "payload": payload or {}, "student": student}
        self._r.zadd(self._p + "commands", {json.dumps(entry): version})
        self._r.zremrangebyrank(self._p + "commands", 0, -1001)        # keep the newest 1,000
        return version

    def commands_since(self, version):
        rows = self._r.zrangebyscore(self._p + "commands", f"({int(version)}", "+inf", start=0, num=100)
        return [json.loads(r) for r in rows]

    def report(self, session, summary, ttl=LIVE_TTL):
        self._r.set(self._p + "live:" + session, json.dumps(summary), px=max(1, int(ttl * 1000)))

    def forget(self, session):
        self._r.delete(self._p + "live:" + session)

    def live(self):
        keys = list(self._r.scan_iter(self._p + "live:*", count=500))
        values = self._r.mget(keys) if keys else []
        n = len(self._p + "live:")
        return {k[n:]: json.loads(v) for k, v in zip(keys, values) if v}

    def remembered(self, name, make):
        self._r.set(self._p + "meta:" + name, make(), nx=True)
        return self._r.get(self._p + "meta:" + name)

    def close(self):
        self._r.close()


def default_url() -> str:
    """``sqlite:///`` a file in this user's state folder ($XDG_STATE_HOME/backlit/class.db)."""
    import os

    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    folder = os.path.join(base, "backlit")
    os.makedirs(folder, exist_ok=True)
    return "sqlite:///" + os.path.join(folder, "class.db")


def open_store(url: str) -> Store:
    """A store from its URL: ``sqlite:///path`` (``sqlite:///:memory:`` for one process) or
    ``redis://host:port/db``. Anything else raises ValueError saying what is accepted."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError("a SQLite store is sqlite:///path/to/file.db (three slashes, then the path)")
        return SQLiteStore(path)
    if parts.scheme in ("redis", "rediss", "unix"):
        return RedisStore(url)
    raise ValueError(f"unknown store {url!r}: use sqlite:///path/to/class.db or redis://host:port/0")
