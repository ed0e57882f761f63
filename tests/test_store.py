"""The classroom's store, SQLite and Redis alike: the roster, progress and pushed setups survive a
restart (a new connection to the same file or server), live summaries expire, and several processes
see the same class. Redis is Debian's redis-server, started here on a free loopback port."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from backlit.server import store as S

from .services import redis_server

@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'class.db'}"
    base = request.getfixturevalue("redis_url")
    import redis

    redis.Redis.from_url(base).flushdb()
    return base


def test_the_class_survives_a_restart(url):
    first = S.open_store(url)
    first.join("a" * 16, "Ada")
    first.join("b" * 16)
    first.join("a" * 16)                      # joining again keeps the name
    first.record_progress("a" * 16, "chain-rule", 2, True, {"answer": 0.25})
    v1 = first.push_setup({"config": {"lr": 0.1}})
    v2 = first.push_setup({"config": {"lr": 0.3}}, student="b" * 16)
    first.close()

    again = S.open_store(url)                 # a new process would open it just so
    roster = again.roster()
    assert set(roster) == {"a" * 16, "b" * 16} and roster["a" * 16]["name"] == "Ada"
    assert roster["b" * 16]["name"] is None
    rows = again.progress("a" * 16)
    assert [(r["lesson"], r["step"], r["done"], r["detail"]) for r in rows] == [("chain-rule", 2, True, {"answer": 0.25})]
    assert again.progress("b" * 16) == []
    assert v2 > v1
    assert again.setup_for("a" * 16) == (v1, {"config": {"lr": 0.1}})
    assert again.setup_for("b" * 16) == (v2, {"config": {"lr": 0.3}})
    v3 = again.push_setup({"config": {"lr": 0.03}})      # a later push to everyone wins for everyone
    assert again.setup_for("b" * 16) == (v3, {"config": {"lr": 0.03}})
    again.close()


def test_live_summaries_expire(url):
    store = S.open_store(url)
    store.report("tab-1", {"student": "a" * 16, "loss": 0.5}, ttl=0.3)
    store.report("tab-2", {"student": "b" * 16, "loss": 0.7}, ttl=30)
    assert set(store.live()) == {"tab-1", "tab-2"}
    store.report("tab-2", {"student": "b" * 16, "loss": 0.6}, ttl=30)
    time.sleep(0.5)
    assert store.live() == {"tab-2": {"student": "b" * 16, "loss": 0.6}}
    store.forget("tab-2")
    assert store.live() == {}
    store.close()


def _worker(url, k):
    store = S.open_store(url)
    for i in range(20):
        store.record_progress(f"{k:016x}", "slope", i, True)
        store.report(f"w{k}-tab{i}", {"loss": i}, ttl=60)
    store.close()


def test_several_processes_share_one_class(url):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(url, k)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = S.open_store(url)
    assert len(store.progress()) == 60 and len(store.live()) == 60
    store.close()


def test_names_are_bounded_and_urls_checked(tmp_path):
    store = S.open_store(f"sqlite:///{tmp_path / 'x.db'}")
    store.join("c" * 16, "  Grace\n  Hopper " + "x" * 100)
    assert store.roster()["c" * 16]["name"] == ("Grace Hopper " + "x" * 100)[:S.MAX_NAME]
    for bad in ("sqlite://relative.db", "mysql://x", "class.db"):
        with pytest.raises(ValueError, match="sqlite:///"):
            S.open_store(bad)


def test_commands_reach_every_worker_once_in_order(url):
    teacher, worker_a, worker_b = S.open_store(url), S.open_store(url), S.open_store(url)
    start = max([c["version"] for c in worker_a.commands_since(0)], default=0)
    v1 = teacher.post_command("pause_all")
    v2 = teacher.post_command("push", {"session": {"format": "backlit.session"}}, student="d" * 16)
    for worker in (worker_a, worker_b):
        got = worker.commands_since(start)
        assert [(c["version"], c["action"], c["student"]) for c in got] == [(v1, "pause_all", None),
                                                                          (v2, "push", "d" * 16)]
        assert got[1]["payload"] == {"session": {"format": "backlit.session"}}
        assert worker.commands_since(v2) == []
    for s in (teacher, worker_a, worker_b):
        s.close()


def test_a_remembered_value_is_made_once(url):
    first = S.open_store(url)
    made = first.remembered("class_code", lambda: "K7P3QX")
    first.close()
    again = S.open_store(url)
    assert made == "K7P3QX" and again.remembered("class_code", lambda: "OTHER1") == "K7P3QX"
    again.close()
