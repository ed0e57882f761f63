"""Load: many concurrent playground sessions on one server, over loopback.

Starts `backlit serve` in a subprocess, opens --sessions WebSocket sessions that all train continuously
(spiral, default network) and each send a control change (a new learning rate) every second, for
--seconds. Reports frames/s per session (min, median), p50/p99 control-reply latency, errors, and the
server's memory (RSS) before and after. With --find-max it then searches for the largest session count
that still meets the targets (shorter runs of --probe-seconds each).

Targets (issue 7): 0 errors, every session >= 5 frames/s, p99 control latency < 500 ms, server memory
growth < 50 MB.

    python benchmarks/load.py                       # 32 sessions, 60 s
    python benchmarks/load.py --sessions 8 --seconds 10
    python benchmarks/load.py --find-max --probe-seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import time

import websockets

TARGET_FPS = 5.0
TARGET_P99_MS = 500.0
TARGET_MEM_MB = 50.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """`backlit serve` in a subprocess."""

    def __init__(self, max_sessions: int):
        port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backlit.cli", "serve", "--no-browser", "--port", str(port),
             "--max-sessions", str(max_sessions)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("server did not start: " + self.proc.stderr.read())
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            if m:
                self.port = int(m.group(1))
                break
        self.url = f"ws://127.0.0.1:{self.port}/ws"

    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def stop(self) -> str:
        self.proc.send_signal(2)  # SIGINT, as Ctrl-C
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stderr.read()


async def session(url: str, seconds: float, warmup: float, result: dict, start_at: float,
                  phase: float = 0.0) -> None:
    """One tab: hello, play, then a learning-rate change every second (at its own phase within the
    second, as independent users would); count frames and latencies."""
    frames = 0
    first_seen = last_seen = None
    latencies: list[float] = []
    errors: list[str] = []
    pending: dict[int, float] = {}
    try:
        async with websockets.connect(url, max_size=2**24, compression=None, open_timeout=30,
                                      origin=url.replace("ws://", "http://").rsplit("/", 1)[0]) as ws:
            await ws.send(json.dumps({"type": "hello", "id": 0}))
            await ws.send(json.dumps({"type": "play", "id": 1}))
            next_id = 2
            t_begin = start_at + warmup
            t_end = t_begin + seconds
            next_control = time.monotonic() + 1.0 + phase
            lrs = (0.03, 0.01)
            while True:
                now = time.monotonic()
                if now >= t_end:
                    break
                if now >= next_control:
                    pending[next_id] = time.monotonic()
                    await ws.send(json.dumps({"type": "set", "config": {"lr": lrs[next_id % 2]},
                                              "id": next_id}))
                    next_id += 1
                    next_control += 1.0
                try:
                    msg = await asyncio.wait_for(ws.recv(), timeout=max(0.01, min(next_control, t_end) - now))
                except asyncio.TimeoutError:
                    continue
                now = time.monotonic()
                if isinstance(msg, bytes):
                    if t_begin <= now < t_end:
                        frames += 1
                        (n,) = struct.unpack_from("<I", msg)
                        seen = json.loads(msg[4:4 + n])["samples_seen"]
                        first_seen = seen if first_seen is None else first_seen
                        last_seen = seen
                    continue
                data = json.loads(msg)
                if data.get("type") == "error":
                    errors.append(data.get("message", "?"))
                rid = data.get("reply_to")
                if rid in pending:
                    sent = pending.pop(rid)
                    if now >= t_begin:
                        latencies.append(now - sent)
            await ws.send(json.dumps({"type": "pause"}))
    except Exception as e:  # a dropped or refused connection is an error of the run
        errors.append(f"{type(e).__name__}: {e}")
    errors += [f"no reply to control {k}" for k, t in pending.items() if time.monotonic() - t > 5]
    samples = 0 if first_seen is None else last_seen - first_seen
    result.update(frames=frames, latencies=latencies, errors=errors, samples=samples)


async def run_load(url: str, n: int, seconds: float, warmup: float) -> list[dict]:
    results = [dict() for _ in range(n)]
    start_at = time.monotonic()
    await asyncio.gather(*(session(url, seconds, warmup, r, start_at, phase=i / n)
                           for i, r in enumerate(results)))
    return results


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(q / 100 * (len(values) - 1)))))
    return values[k]


def measure(n: int, seconds: float, warmup: float = 3.0, verbose: bool = True) -> dict:
    server = Server(max_sessions=max(n, 1) + 4)
    try:
        time.sleep(0.5)
        mem_before = server.rss()
        cpu0, own0, t0 = cpu_seconds(server.proc.pid), time.process_time(), time.monotonic()
        results = asyncio.run(run_load(server.url, n, seconds, warmup))
        wall = time.monotonic() - t0
        server_cpu = (cpu_seconds(server.proc.pid) - cpu0) / wall
        client_cpu = (time.process_time() - own0) / wall
        mem_peak = server.rss()
        time.sleep(2.0)  # let the sessions close
        mem_after = server.rss()
    finally:
        stderr = server.stop()
    fps = [r["frames"] / seconds for r in results]
    sps = [r.get("samples", 0) / seconds for r in results]
    lat = [x * 1e3 for r in results for x in r["latencies"]]
    errors = [e for r in results for e in r["errors"]]
    if "Traceback" in stderr:
        errors.append("server traceback: " + stderr.strip().splitlines()[-1])
    out = {"sessions": n, "seconds": seconds, "fps_min": min(fps), "fps_median": statistics.median(fps),
           "fps_max": max(fps), "samples_per_s_median": statistics.median(sps),
           "samples_per_s_total": sum(sps), "latency_p50_ms": percentile(lat, 50), "latency_p99_ms": percentile(lat, 99),
           "controls": len(lat), "errors": len(errors), "error_samples": errors[:3],
           "mem_before_mb": mem_before, "mem_peak_mb": mem_peak, "mem_after_mb": mem_after,
           "mem_growth_mb": mem_after - mem_before, "server_cpu": server_cpu, "client_cpu": client_cpu,
           "load_avg": os.getloadavg()[0]}
    out["ok"] = (out["errors"] == 0 and out["fps_min"] >= TARGET_FPS and out["latency_p99_ms"] < TARGET_P99_MS
                 and out["mem_growth_mb"] < TARGET_MEM_MB)
    if verbose:
        report(out)
    return out


def report(r: dict) -> None:
    print(f"{r['sessions']:3d} sessions, {r['seconds']:.0f} s: frames/s per session min {r['fps_min']:.1f}, "
          f"median {r['fps_median']:.1f}, max {r['fps_max']:.1f} | training samples/s per session "
          f"{r['samples_per_s_median']:,.0f} (all: {r['samples_per_s_total']:,.0f}) | control reply p50 "
          f"{r['latency_p50_ms']:.0f} ms, p99 {r['latency_p99_ms']:.0f} ms ({r['controls']} changes) | "
          f"errors {r['errors']} | server RSS {r['mem_before_mb']:.0f} MB before, {r['mem_peak_mb']:.0f} MB "
          f"under load, {r['mem_after_mb']:.0f} MB after (growth {r['mem_growth_mb']:+.1f} MB) | "
          f"{'meets targets' if r['ok'] else 'MISSES targets'}", flush=True)
    print(f"     (CPU: server {100 * r['server_cpu']:.0f}% of a core, this client {100 * r['client_cpu']:.0f}%; "
          f"machine load average {r['load_avg']:.1f})", flush=True)
    for e in r["error_samples"]:
        print("   error:", e)


def find_max(start: int, seconds: float) -> int:
    """Largest session count meeting the targets: grow by doubling, then bisect."""
    good, bad = 0, None
    n = max(start, 1)
    while bad is None:
        if measure(n, seconds)["ok"]:
            good, n = n, n * 2
            if n > 512:
                return good
        else:
            bad = n
    while bad - good > max(2, good // 8):
        mid = (good + bad) // 2
        if measure(mid, seconds)["ok"]:
            good = mid
        else:
            bad = mid
    return good


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--find-max", action="store_true", help="then search for the largest passing session count")
    ap.add_argument("--probe-seconds", type=float, default=15.0, help="length of each --find-max run")
    args = ap.parse_args()
    print(f"targets: 0 errors, >= {TARGET_FPS:g} frames/s per session, p99 control reply < {TARGET_P99_MS:g} ms, "
          f"memory growth < {TARGET_MEM_MB:g} MB; {os.cpu_count()} CPUs")
    main_run = measure(args.sessions, args.seconds)
    if args.find_max:
        start = args.sessions if main_run["ok"] else max(1, args.sessions // 2)
        best = find_max(start, args.probe_seconds)
        print(f"largest session count meeting the targets ({args.probe_seconds:.0f} s runs): {best}")


if __name__ == "__main__":
    main()
