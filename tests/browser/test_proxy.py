"""More than one machine's worth of parts on one: Debian's nginx at /backlit/ in front of two `backlit
serve` processes that share a Redis store. A tab is opened through nginx, its server is killed, and
the tab reconnects through nginx to the other server with its configuration, weights and custom
points; the teacher's view shows it as the same student throughout. Forwarded headers count only
from the proxies allowed to send them."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import time

import numpy as np
import pytest

from backlit.cli.headless import served

from ..services import nginx, redis_server
from .conftest import App
from .test_data import all_points, good_csv, upload_csv

pytestmark = pytest.mark.browser
CODE = "K7P3QX"
WAIT_40 = ("() => window.backlitDebug.state.custom_data && window.backlitDebug.app.points"
           " && window.backlitDebug.app.points.train.length + window.backlitDebug.app.points.test.length === 40")


def get(port, path, cookie=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("GET", path, headers={**({"Cookie": cookie} if cookie else {}), **(headers or {})})
    r = conn.getresponse()
    body = r.read().decode("utf-8", "replace")
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def test_a_tab_behind_nginx_survives_its_server(browser, tmp_path):
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    with redis_server() as redis_url:
        options = ("--code", CODE, "--store", redis_url, "--root-path", "/backlit", "--proxy-headers",
                   "--forwarded-allow-ips", "127.0.0.1")
        with served(None, *options, env=env) as first, served(None, *options, env=env) as second, \
                nginx(tmp_path / "nginx", [first.port, second.port]) as port:
            servers = {first.proc.pid: first, second.proc.pid: second}
            keys = {re.search(r"key=([A-Z0-9]+)", line).group(1)
                    for s in servers.values() for line in s.output if "key=" in line}
            assert len(keys) == 1, "both servers keep the one class's teacher key (from the shared store)"
            key = keys.pop()
            status, headers, _ = get(port, f"/backlit/teacher?key={key}")
            assert status == 303 and headers["location"] == "/backlit/teacher"
            teacher = headers["set-cookie"].split(";")[0]
            assert "Path=/backlit/teacher" in headers["set-cookie"]

            base = f"http://127.0.0.1:{port}/backlit"
            context = browser.new_context(viewport={"width": 1400, "height": 950})
            page = context.new_page()
            app = App(page, base)
            page.goto(f"{base}/?code={CODE}&name=Ada")
            app.wait_ready()
            assert page.url == base + "/"
            app.select_number("#lr", 0.3)
            app.wait_config(lr=0.3)
            upload_csv(app, good_csv(40))
            page.wait_for_function(WAIT_40)
            before_points = all_points(app)
            for _ in range(3):
                app.button("Step").click()
            page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step >= 3")
            config, header = app.config(), app.header()

            def sessions():
                return json.loads(get(port, "/backlit/teacher/class", cookie=teacher)[2])["sessions"]

            deadline = time.monotonic() + 15
            while not sessions() and time.monotonic() < deadline:
                time.sleep(0.3)
            (summary,) = sessions()
            holder = int(summary["worker"][1:])
            student = summary["student"]
            assert holder in servers and summary["name"] == "Ada"
            opened = page.evaluate("() => window.__t.opened")
            os.kill(holder, signal.SIGKILL)

            page.wait_for_function("(n) => window.__t.opened > n", arg=opened, timeout=30_000)
            page.wait_for_function("(c) => JSON.stringify(window.backlitDebug.state.config) === JSON.stringify(c)",
                                   arg=config, timeout=30_000)
            page.wait_for_function(WAIT_40, timeout=30_000)
            assert all_points(app) == before_points, "the custom points came back"
            now = page.evaluate("() => window.backlitDebug.lastFrameHeader")
            for got, want in zip(now["weights"], header["weights"]):
                np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-7)

            other = next(pid for pid in servers if pid != holder)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                live = [s for s in sessions() if s["worker"] == f"w{other}"]
                if live:
                    break
                time.sleep(0.3)
            assert [s["student"] for s in live] == [student], "the same student, now on the other server"
            assert live[0]["name"] == "Ada"
            assert app.page_errors == []
            context.close()


def test_forwarded_headers_count_only_from_allowed_proxies(tmp_path):
    """Wrong codes lock the client's address. A client that forges X-Forwarded-For to look like many
    addresses is still one address, unless it is an allowed proxy."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    for options, forged_counts in [((), False), (("--proxy-headers", "--forwarded-allow-ips", "10.9.9.9"), False),
                                   (("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"), True)]:
        with served(None, "--code", CODE, *options, env=env) as server:
            codes = [get(server.port, "/?code=WRONG1", headers={"X-Forwarded-For": f"203.0.113.{i}"})[0]
                     for i in range(8)]
            if forged_counts:   # 127.0.0.1 is the proxy here: each forwarded address is its own client
                assert codes == [401] * 8, options
            else:
                assert codes[:4] == [401] * 4 and set(codes[4:]) == {429}, options
