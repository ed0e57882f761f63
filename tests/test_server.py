"""Security and limits of the HTTP/WebSocket server: Origin checks, static files (path traversal, MIME
whitelist), security headers, "server full", port picking, and a real `backlit serve` process that stops
cleanly on Ctrl-C."""

import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings

import pytest

warnings.filterwarnings("ignore", message=".*httpx.*")  # Starlette's test client on newer Starlette
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from backlit.server import protocol as P  # noqa: E402
from backlit.server.app import create_app  # noqa: E402
from backlit.server.protocol import Limits  # noqa: E402
from backlit.server.run import bind  # noqa: E402


@pytest.fixture
def web_root(tmp_path):
    root = tmp_path / "web"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>backlit</title>")
    (root / "js" / "main.js").write_text("export const x = 1;")
    (root / "secret.py").write_text("SECRET = 1")
    (root / ".env").write_text("TOKEN=1")
    (tmp_path / "outside.js").write_text("outside")
    (root / "js" / "link.js").symlink_to(tmp_path / "outside.js")
    return root


@pytest.fixture
def client(web_root):
    with TestClient(create_app(web_root=web_root)) as c:
        yield c


# ---- static files and headers ------------------------------------------------------------------

def test_index_and_js_with_security_headers(client):
    for path, ctype in (("/", "text/html"), ("/index.html", "text/html"), ("/js/main.js", "text/javascript")):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'self'" in csp and "object-src 'none'" in csp
        assert "connect-src 'self' ws://testserver" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    r = client.get("/missing.js")
    assert r.status_code == 404 and r.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_the_package_page_is_served():
    with TestClient(create_app()) as c:
        r = c.get("/")
        assert r.status_code == 200 and "<html" in r.text.lower()
        assert r.headers["content-type"].startswith("text/html")


async def _asgi_get(app, path: str, raw_path: bytes | None = None):
    """Call the ASGI app directly with an exact path, as uvicorn would after percent-decoding
    (an HTTP client would normalise away the dots)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": raw_path or path.encode("latin-1", "replace"),
             "root_path": "", "query_string": b"", "headers": [(b"host", b"testserver")],
             "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


TRAVERSALS = [
    "/../secret.py", "/../../pyproject.toml", "/js/../../outside.js", "/js/../secret.py",
    "/..%2f..%2fpyproject.toml", "/%2e%2e/%2e%2e/pyproject.toml", "/%252e%252e/pyproject.toml",
    "/..\\..\\pyproject.toml", "/js/..\\..\\outside.js", "//etc/passwd", "/etc/passwd", "/.env",
    "/js/.%2e/secret.py", "/secret.py", "/index.html%00.js", "/index.html\x00.js", "/js/link.js",
    "/js/", "/js", "/./index.html", "/" + "a/" * 200 + "x.js",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_404(web_root, path):
    app = create_app(web_root=web_root)
    # a thread of its own: the browser tests' Playwright loop may be running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        status, body = pool.submit(asyncio.run, _asgi_get(app, path)).result()
    assert status == 404
    assert b"SECRET" not in body and b"outside" not in body and b"TOKEN" not in body


# ---- WebSocket origin --------------------------------------------------------------------------

def _hello(ws):
    ws.send_text(json.dumps({"type": "hello"}))
    return json.loads(ws.receive_text())


@pytest.mark.parametrize("origin", ["http://evil.example", "http://testserver.evil.example", "null",
                                    "http://127.0.0.1:8000", "file://", "http://testserver:81",
                                    "https://testserver"])
def test_foreign_origin_is_refused(client, origin):
    with pytest.raises(WebSocketDisconnect) as e:
        with client.websocket_connect("/ws", headers={"origin": origin}) as ws:
            ws.receive_text()
    assert e.value.code == 1008


@pytest.mark.parametrize("origin", ["http://testserver", "http://testserver:80", "HTTP://TestServer/"])
def test_same_origin_is_accepted(client, origin):
    with client.websocket_connect("/ws", headers={"origin": origin}) as ws:
        assert _hello(ws)["type"] == "state"


def test_allow_origin_option(web_root):
    app = create_app(web_root=web_root, allowed_origins=["https://proxy.example/", "lan-host:9000"])
    with TestClient(app) as c:
        for origin in ("https://proxy.example", "http://lan-host:9000"):
            with c.websocket_connect("/ws", headers={"origin": origin}) as ws:
                assert _hello(ws)["type"] == "state"
        with pytest.raises(WebSocketDisconnect):
            with c.websocket_connect("/ws", headers={"origin": "https://other.example"}) as ws:
                ws.receive_text()


def test_host_check_stops_dns_rebinding(web_root):
    app = create_app(web_root=web_root, allowed_hosts=["localhost", "127.0.0.1", "::1"],
                     allowed_origins=["https://proxy.example"])
    with TestClient(app, base_url="http://localhost:8000") as c:
        assert c.get("/").status_code == 200
        with c.websocket_connect("ws://localhost:8000/ws", headers={"origin": "http://localhost:8000"}) as ws:
            assert _hello(ws)["type"] == "state"
        for host in ("evil.example:8000", "127.0.0.1.evil.example", ""):
            r = c.get("/", headers={"host": host})
            assert r.status_code == 400 and r.headers["x-content-type-options"] == "nosniff"
        # the rebinding attack: Origin and Host agree, but name another site
        with pytest.raises(WebSocketDisconnect) as e:
            with c.websocket_connect("ws://localhost:8000/ws", headers={"host": "evil.example:8000",
                                                     "origin": "http://evil.example:8000"}) as ws:
                ws.receive_text()
        assert e.value.code == 1008
        assert c.get("/", headers={"host": "[::1]:8000"}).status_code == 200
        assert c.get("/", headers={"host": "proxy.example"}).status_code == 200
    # control: without the host check the same handshake is accepted (Origin and Host agree)
    with TestClient(create_app(web_root=web_root)) as c:
        with c.websocket_connect("ws://localhost:8000/ws", headers={"host": "evil.example:8000",
                                                                 "origin": "http://evil.example:8000"}) as ws:
            assert _hello(ws)["type"] == "state"


# ---- limits ------------------------------------------------------------------------------------

def test_server_full(web_root):
    app = create_app(limits=Limits(max_sessions=2), web_root=web_root)
    with TestClient(app) as c:
        with c.websocket_connect("/ws") as a, c.websocket_connect("/ws") as b:
            assert _hello(a)["type"] == "state" and _hello(b)["type"] == "state"
            r = c.get("/")
            assert r.status_code == 503 and "Server full" in r.text
            with c.websocket_connect("/ws") as third:
                msg = json.loads(third.receive_text())
                assert msg["type"] == "error" and msg["message"].startswith("server full")
                with pytest.raises(WebSocketDisconnect) as e:
                    third.receive_text()
                assert e.value.code == 1013
            assert app.state.hub.sessions == 2
        for _ in range(100):  # the sessions' cleanup runs on the server's loop
            if app.state.hub.sessions == 0:
                break
            time.sleep(0.01)
        assert app.state.hub.sessions == 0
        assert c.get("/").status_code == 200
        with c.websocket_connect("/ws") as again:
            assert _hello(again)["type"] == "state"


def test_max_points_limit_reaches_sessions(web_root):
    app = create_app(limits=Limits(max_points=100), web_root=web_root)
    with TestClient(app) as c, c.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"type": "set", "config": {"n_points": 101}}))
        err = json.loads(ws.receive_text())
        assert err["field"] == "config.n_points" and "50..100" in err["message"]


# ---- port picking and the real server ----------------------------------------------------------

def test_bind_picks_the_next_free_port():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        sock, got = bind("127.0.0.1", port)
        sock.close()
        assert got > port
    finally:
        taken.close()


def test_bind_gives_connections_without_nagle_delay():
    """asyncio sets TCP_NODELAY only on IPPROTO_TCP sockets; without it a second reply in a row
    (state, then frame) waits for the client's delayed ACK."""

    async def accepted_nodelay():
        sock, port = bind("127.0.0.1", _free_port())
        done = asyncio.Event()
        seen = {}

        def on_connect(reader, writer):
            seen["nodelay"] = writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            writer.close()
            done.set()

        server = await asyncio.start_server(on_connect, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.wait_for(done.wait(), 10)
            writer.close()
        return seen["nodelay"]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, accepted_nodelay()).result() != 0


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _raw_get(port: int, target: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


@pytest.fixture(scope="module")
def served():
    """`backlit serve` in a subprocess, on a port that is already taken (so it must pick another)."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "backlit.cli.main", "serve", "--no-browser", "--host", "127.0.0.1",
         "--port", str(port), "--max-sessions", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError("server exited: " + proc.stderr.read())
            lines.append(line)
            if "http://" in line:
                break
        url = line.split()[2]
        got = int(url.rsplit(":", 1)[1].strip("/"))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", got), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield {"proc": proc, "port": got, "asked": port, "lines": lines}
    finally:
        taken.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_picks_a_free_port_and_prints_the_url(served):
    assert served["port"] != served["asked"]
    assert any(f"Port {served['asked']} is in use; using port {served['port']}" in ln for ln in served["lines"])
    assert any(f"http://127.0.0.1:{served['port']}/" in ln for ln in served["lines"])
    assert not any("warning" in ln for ln in served["lines"])


@pytest.mark.parametrize("target", ["/../../pyproject.toml", "/%2e%2e/%2e%2e/pyproject.toml",
                                    "/js/%2e%2e/%2e%2e/%2e%2e/pyproject.toml", "/..%2f..%2fpyproject.toml",
                                    "/%2E%2E%2F%2E%2E%2Fserver%2Fapp.py", "/..%5c..%5cpyproject.toml",
                                    "/server/app.py", "/js/../../playground.py", "/%00"])
def test_real_server_path_traversal(served, target):
    status, data = _raw_get(served["port"], target)
    assert status in (400, 404)
    assert b"[project]" not in data and b"import" not in data


def test_real_server_answers_only_to_loopback_names(served):
    with socket.create_connection(("127.0.0.1", served["port"]), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        assert s.recv(100).split(b" ")[1] == b"400"


def test_real_server_headers(served):
    status, data = _raw_get(served["port"], "/")
    head = data.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert status == 200
    assert "content-security-policy: default-src 'self'; script-src 'self'" in head
    assert "x-content-type-options: nosniff" in head


def test_real_server_websocket_origin(served):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    uri = f"ws://127.0.0.1:{served['port']}/ws"
    with pytest.raises(InvalidStatus) as e:
        with connect(uri, origin="http://evil.example", open_timeout=5):
            pass
    assert e.value.response.status_code == 403
    with connect(uri, origin=f"http://127.0.0.1:{served['port']}", open_timeout=5) as ws:
        ws.send(json.dumps({"type": "hello", "id": 1}))
        assert json.loads(ws.recv(timeout=10))["type"] == "state"
        assert isinstance(ws.recv(timeout=10), str)  # points
        header, arrays = P.unpack_frame(ws.recv(timeout=10))
        assert header["reply_to"] == 1 and arrays["boundary"].shape == (100, 100)
        # an oversized (but under the transport limit) frame gets an error, not a dropped connection
        ws.send(json.dumps({"type": "step", "pad": "x" * 300_000}))
        assert json.loads(ws.recv(timeout=10))["field"] == "message"


def test_real_server_survives_frames_over_the_transport_limit(served):
    """Over 1 MiB the transport closes the connection (1009); the server itself carries on."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    uri = f"ws://127.0.0.1:{served['port']}/ws"
    with pytest.raises(ConnectionClosed) as e:
        with connect(uri, open_timeout=5, max_size=None) as ws:
            ws.send("x" * (2 * 1024 * 1024))
            ws.recv(timeout=10)
    # a close frame with 1009, or (when the server closes while the client is still sending) a reset
    assert e.value.rcvd is None or e.value.rcvd.code == 1009
    with connect(uri, open_timeout=5) as ws:  # a new tab is served as before
        ws.send(b"\x00" * 100)
        assert json.loads(ws.recv(timeout=10))["field"] == "message"
        ws.send(json.dumps({"type": "step", "id": 7}))
        header, _ = P.unpack_frame(ws.recv(timeout=10))
        assert header["reply_to"] == 7


def test_zz_ctrl_c_stops_cleanly_while_training(served):
    from websockets.sync.client import connect

    proc = served["proc"]
    with connect(f"ws://127.0.0.1:{served['port']}/ws", open_timeout=5) as ws:
        ws.send(json.dumps({"type": "play"}))
        ws.recv(timeout=10)
        ws.recv(timeout=10)  # a frame: training is on
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=15)
    err = proc.stderr.read()
    assert rc == 0 and "Traceback" not in err, err
    assert "stopped" in proc.stdout.read()


def test_public_host_prints_a_warning():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "backlit.cli.main", "serve", "--no-browser", "--host", "0.0.0.0", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert first.startswith("warning:") and "reachable from the network" in first
        assert first.count("\n") == 1 and "http://127.0.0.1:" in second
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert "Traceback" not in proc.stderr.read()


def test_printed_url_and_public_hosts():
    from backlit.server.run import _is_public, _url

    assert _url("0.0.0.0", 8000) == "http://127.0.0.1:8000/"
    assert _url("::", 8001) == "http://[::1]:8001/"
    assert _url("::1", 8002) == "http://[::1]:8002/"
    assert _url("localhost", 8003) == "http://localhost:8003/"
    assert [_is_public(h) for h in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "192.168.1.5")] == \
        [False, False, False, True, True]


def test_serve_arguments():
    import argparse

    from backlit.server.run import add_serve_arguments

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.no_browser, args.allow_origin, args.max_sessions, args.max_points,
            args.workers, args.allow_host) == ("127.0.0.1", 8000, False, [], 32, 5000, 1, [])
    args = parser.parse_args(["--allow-origin", "https://a.example", "--allow-origin", "b:1", "--no-browser"])
    assert args.allow_origin == ["https://a.example", "b:1"] and args.no_browser
    for bad in (["--port", "0"], ["--port", "70000"], ["--max-sessions", "0"], ["--max-points", "10"],
                ["--workers", "0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


# ---- issue 12: --host with any address, --workers ------------------------------------------------

def _serve(*extra):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "backlit.cli.main", "serve", "--no-browser", "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()
    while line.startswith("warning") or "in use" in line:
        line = proc.stdout.readline()
    assert "http://" in line, line + proc.stderr.read()
    return proc, line


def _stop(proc):
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    err = proc.stderr.read()
    assert "Traceback" not in err, err


def _ws_hello(uri, origin):
    from websockets.sync.client import connect

    for _ in range(100):
        try:
            ws = connect(uri, origin=origin, open_timeout=10)
            break
        except ConnectionRefusedError:
            time.sleep(0.1)
    with ws:
        ws.send(json.dumps({"type": "hello", "id": 1}))
        return json.loads(ws.recv(timeout=20))["type"]


def test_host_with_another_loopback_address():
    proc, line = _serve("--host", "127.0.0.3")
    try:
        url = line.split()[2]
        assert url.startswith("http://127.0.0.3:")
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.3", port), timeout=5) as s:  # the printed URL works
            s.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.3:{port}\r\nConnection: close\r\n\r\n".encode())
            assert s.recv(100).split(b" ")[1] == b"200"
        with socket.create_connection(("127.0.0.3", port), timeout=5) as s:  # DNS rebinding still refused
            s.sendall(b"GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
            assert s.recv(100).split(b" ")[1] == b"400"
        assert _ws_hello(f"ws://127.0.0.3:{port}/ws", f"http://127.0.0.3:{port}") == "state"
    finally:
        _stop(proc)


def test_allowed_hosts_follow_the_bound_address():
    from backlit.server.run import allowed_hosts, network_names

    assert allowed_hosts("127.0.0.3") == ["localhost", "127.0.0.1", "::1", "127.0.0.3"]
    assert "192.168.1.5" in allowed_hosts("192.168.1.5") and "evil.example" not in allowed_hosts("192.168.1.5")
    everywhere = allowed_hosts("0.0.0.0", ["class.example"])
    assert set(network_names("0.0.0.0")[1:]) <= set(everywhere) and "class.example" in everywhere
    assert socket.gethostname().lower() in everywhere
    assert allowed_hosts("0.0.0.0", ["*"]) is None


def test_two_workers_serve_two_sessions():
    proc, line = _serve("--workers", "2")
    try:
        port = int(line.split()[2].rsplit(":", 1)[1].strip("/"))
        from websockets.sync.client import connect

        for _ in range(100):  # uvicorn's two worker processes
            if len(_workers(proc.pid)) == 2:
                break
            time.sleep(0.1)
        uri = f"ws://127.0.0.1:{port}/ws"
        _ws_hello(uri, f"http://127.0.0.1:{port}")  # wait until a worker answers
        with connect(uri, open_timeout=10) as a, connect(uri, open_timeout=10) as b:
            for ws in (a, b):
                ws.send(json.dumps({"type": "hello", "id": 1, "config": {"hidden": [3]}}))
            for ws in (a, b):
                assert json.loads(ws.recv(timeout=20))["type"] == "state"
                ws.recv(timeout=20)
                ws.recv(timeout=20)
                ws.send(json.dumps({"type": "step", "id": 2}))
                header, _ = P.unpack_frame(ws.recv(timeout=20))
                assert header["reply_to"] == 2 and header["step"] == 1
        assert len(_workers(proc.pid)) == 2
    finally:
        _stop(proc)


def _workers(pid: int) -> list[str]:
    """Child processes started by multiprocessing's spawn (uvicorn's workers)."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit() and _ppid(p) == pid:
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if b"spawn_main" in f.read():
                        out.append(p)
            except OSError:
                pass
    return out


def _ppid(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1
