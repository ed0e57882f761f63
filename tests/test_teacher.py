"""The teacher's view over loopback, with real student tabs: it sees every tab live, its pause and push
reach them, a student's cookie opens nothing of it, its CSV is safe in a spreadsheet, and the class
(code, roster, cookies) survives a restart."""

from __future__ import annotations

import csv
import http.client
import io
import json
import re
import time

import pytest
from websockets.sync.client import connect

from backlit.cli.headless import served


def request(port, method, path, cookie=None, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = cookie
    if body is not None:
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=None if body is None else json.dumps(body).encode(), headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data.decode("utf-8", "replace")


def printed(server, pattern):
    for line in server.output:
        m = re.search(pattern, line)
        if m:
            return m.group(1)
    raise AssertionError(f"{pattern!r} not printed:\n" + "\n".join(server.output))


def cookie_of(headers):
    return headers["set-cookie"].split(";")[0]


class Student:
    def __init__(self, port, code, name=None):
        q = f"/?code={code}" + (f"&name={name}" if name else "")
        status, headers, _ = request(port, "GET", q)
        assert status == 303
        self.cookie = cookie_of(headers)
        self.ws = connect(f"ws://127.0.0.1:{port}/ws", additional_headers={"Cookie": self.cookie}, open_timeout=10)
        self.send({"type": "hello", "id": 1})
        self.wait(lambda m: m.get("type") == "state")

    def send(self, msg):
        self.ws.send(json.dumps(msg))

    def wait(self, pred, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            if isinstance(raw, str):
                msg = json.loads(raw)
                if pred(msg):
                    return msg
        raise AssertionError("no such message")

    def close(self):
        self.ws.close()


@pytest.fixture()
def state_dir(tmp_path):
    return {"XDG_STATE_HOME": str(tmp_path / "state")}


def teacher_cookie(server):
    key = printed(server, r"teacher\?key=([A-Z0-9]+)")
    status, headers, _ = request(server.port, "GET", f"/teacher?key={key}")
    assert status == 303 and "HttpOnly" in headers["set-cookie"] and "SameSite=strict" in headers["set-cookie"]
    return cookie_of(headers), key


def class_state(server, cookie, want=None, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = request(server.port, "GET", "/teacher/class", cookie=cookie)
        assert status == 200, body
        state = json.loads(body)
        if want is None or want(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


def test_the_teacher_sees_every_tab_and_pause_and_push_reach_them(state_dir):
    with served(None, "--host", "0.0.0.0", "--code", "K7P3QX", env=state_dir) as server:
        teacher, _ = teacher_cookie(server)
        ada, grace, tab3 = Student(server.port, "K7P3QX", "Ada"), Student(server.port, "K7P3QX", "Grace"), \
            Student(server.port, "K7P3QX")
        try:
            for s in (ada, grace, tab3):
                s.send({"type": "play", "id": 2})
            state = class_state(server, teacher, lambda st: len(st["sessions"]) == 3
                                and all(s["playing"] for s in st["sessions"]))
            labels = sorted(s["label"] for s in state["sessions"])
            assert labels == ["Ada", "Grace", "tab 3"], labels
            for s in state["sessions"]:
                assert len(s["thumb"]["cells"]) == 16 * 16 and s["train_loss"] is not None and s["dataset"] == "circle"
            assert state["code"] == "K7P3QX" and state["join_url"].endswith("/?code=K7P3QX")

            status, _, body = request(server.port, "POST", "/teacher/command", teacher, {"action": "pause_all"})
            assert status == 200, body
            for s in (ada, grace, tab3):
                s.wait(lambda m: m.get("type") == "state" and m.get("playing") is False)

            ada.send({"type": "set", "id": 3, "config": {"lr": 0.3, "hidden": [3]}})
            ada.wait(lambda m: m.get("type") == "state" and m["config"]["lr"] == 0.3)
            ada.send({"type": "save", "id": 4})
            saved = ada.wait(lambda m: m.get("type") == "session")["session"]
            grace_id = next(s["student"] for s in state["sessions"] if s["label"] == "Grace")
            status, _, body = request(server.port, "POST", "/teacher/command", teacher,
                                      {"action": "push", "session": saved, "student": grace_id})
            assert status == 200, body
            got = grace.wait(lambda m: m.get("type") == "state" and m["config"]["lr"] == 0.3)
            assert got["config"]["hidden"] == [3]
            state = class_state(server, teacher, lambda st: any(s["label"] == "Grace" and s["hidden"] == [3]
                                                                 for s in st["sessions"]))
            assert next(s for s in state["sessions"] if s["label"] == "tab 3")["hidden"] == [4, 2], \
                "a push to one student leaves the others alone"
            assert not any(s["playing"] for s in state["sessions"])
        finally:
            for s in (ada, grace, tab3):
                s.close()


def test_a_students_cookie_opens_nothing_of_the_teachers(state_dir):
    with served(None, "--host", "0.0.0.0", "--code", "K7P3QX", env=state_dir) as server:
        teacher, key = teacher_cookie(server)
        student = Student(server.port, "K7P3QX", "Eve")
        try:
            for method, path, body in [("GET", "/teacher", None), ("GET", "/teacher/class", None),
                                       ("POST", "/teacher/command", {"action": "pause_all"}),
                                       ("GET", "/teacher/progress.csv", None), ("GET", "/teacher/teacher.js", None),
                                       ("GET", "/teacher/qr.svg", None)]:
                status, _, text = request(server.port, method, path, cookie=student.cookie, body=body)
                assert status == 401, (path, status)
                assert key not in text
            # the same value as a teacher cookie is refused too: the two are signed with different secrets
            forged = "backlit_teacher=" + student.cookie.split("=", 1)[1]
            assert request(server.port, "GET", "/teacher/class", cookie=forged)[0] == 401
            for path in ("/", "/js/main.js", "/?code=K7P3QX"):
                assert key not in request(server.port, "GET", path, cookie=student.cookie)[2]
            student.send({"type": "save", "id": 9})
            assert key not in json.dumps(student.wait(lambda m: m.get("type") == "session"))
            # a command from another site's page is refused even with the teacher's cookie
            status, _, _ = request(server.port, "POST", "/teacher/command", teacher, {"action": "pause_all"},
                                   headers={"Origin": "http://evil.example"})
            assert status == 403
            for bad in ({"action": "rm -rf"}, {"action": "push", "session": {"x": 1}}, [1, 2]):
                assert request(server.port, "POST", "/teacher/command", teacher, bad)[0] == 400
        finally:
            student.close()


def test_wrong_teacher_keys_are_slowed(state_dir):
    with served(None, "--code", "K7P3QX", env=state_dir) as server:
        _, key = teacher_cookie(server)
        codes = [request(server.port, "GET", f"/teacher?key=WRONG{i}")[0] for i in range(6)]
        assert codes[:5] == [401] * 5 and codes[5] == 429
        assert request(server.port, "GET", f"/teacher?key={key}")[0] == 429, "locked: the right key waits too"


def test_the_class_csv_is_escaped_against_formulas(state_dir):
    with served(None, "--code", "K7P3QX", env=state_dir) as server:
        teacher, _ = teacher_cookie(server)
        for name in ("=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "Ada"):
            request(server.port, "GET", "/?code=K7P3QX&name=" + __import__("urllib.parse").parse.quote(name))
        status, headers, body = request(server.port, "GET", "/teacher/progress.csv", cookie=teacher)
        assert status == 200 and "attachment" in headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(body)))
        names = sorted(r[1] for r in rows[1:])
        assert names == sorted(["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "Ada"])


def test_the_class_survives_a_restart(state_dir):
    with served(None, "--host", "0.0.0.0", env=state_dir) as server:
        code = printed(server, r"class code: (\S+)")
        student = Student(server.port, code, "Ada")
        cookie = student.cookie
        student.close()
    with served(None, "--host", "0.0.0.0", env=state_dir) as again:
        assert printed(again, r"class code: (\S+)") == code, "a made-up code is kept"
        teacher, _ = teacher_cookie(again)
        status, _, _ = request(again.port, "GET", "/", cookie=cookie)
        assert status == 200, "yesterday's cookie still opens the page"
        with connect(f"ws://127.0.0.1:{again.port}/ws", additional_headers={"Cookie": cookie}) as ws:
            ws.send(json.dumps({"type": "hello", "id": 1}))
            assert json.loads(ws.recv(timeout=20))["type"] == "state"
        assert class_state(again, teacher)["students"] == 1


def test_start_a_lesson_for_everyone_and_see_their_progress(state_dir):
    with served(None, "--code", "K7P3QX", env=state_dir) as server:
        teacher, _ = teacher_cookie(server)
        ada, grace = Student(server.port, "K7P3QX", "Ada"), Student(server.port, "K7P3QX", "Grace")
        try:
            assert request(server.port, "POST", "/teacher/command", teacher,
                           {"action": "lesson", "lesson": "no-such-lesson"})[0] == 400
            status, _, body = request(server.port, "POST", "/teacher/command", teacher,
                                      {"action": "lesson", "lesson": "first-look"})
            assert status == 200, body
            for s in (ada, grace):
                got = s.wait(lambda m: m.get("type") == "lesson" and m.get("lesson") == "first-look")
                assert got["step"] == 0
            state = class_state(server, teacher, lambda st: all(s["lesson"] for s in st["sessions"]))
            assert {s["lesson"] for s in state["sessions"]} == {"A first look · step 1 of 4"}
            ada.send({"type": "lesson_event", "id": 5, "event": "forward"})     # the page's Forward, done
            ada.wait(lambda m: m.get("type") == "lesson" and 0 in (m.get("done") or {}).get("first-look", []))
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                rows = list(csv.reader(io.StringIO(request(server.port, "GET", "/teacher/progress.csv",
                                                           cookie=teacher)[2])))
                done = [r for r in rows[1:] if r[3] == "first-look"]
                if done:
                    break
                time.sleep(0.3)
            assert [(r[1], r[3], r[4], r[5]) for r in done] == [("Ada", "first-look", "0", "True")]
        finally:
            ada.close()
            grace.close()
