"""Faults in the browser (issue 7): the server restarts under an open page; a learning rate of 10."""

from __future__ import annotations

import numpy as np
from playwright.sync_api import expect


def test_page_reconnects_after_a_server_restart_with_its_configuration_and_weights(app, own_server):
    app.open(base_url=own_server.url)
    page = app.page
    page.select_option("#dataset", "circle")
    app.wait_config(dataset="circle")
    page.select_option("#activation", "relu")
    app.wait_config(activation="relu")
    app.button("Add neuron to layer 1").click()
    page.wait_for_function("() => window.backlitDebug.state.config.hidden[0] === 5")
    for _ in range(5):
        app.button("Step").click()
    page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step >= 5")
    config = app.config()
    weights = app.header()["weights"]
    biases = app.header()["biases"]
    opened = page.evaluate("() => window.__t.opened")
    frames = page.evaluate("() => window.__t.frames")

    own_server.stop()
    expect(page.locator("#status")).to_contain_text("reconnect", ignore_case=True)
    app.screenshot("reconnecting")
    own_server.start()  # same port

    page.wait_for_function("(n) => window.__t.opened > n", arg=opened, timeout=30_000)
    page.wait_for_function("(n) => window.__t.frames > n", arg=frames)  # a frame from the new server
    expect(page.locator("#status")).not_to_contain_text("reconnect", ignore_case=True)
    # The new session was seeded from the page: the same configuration and the last weights it had.
    hello = [m for m in page.evaluate("() => window.__t.sent") if isinstance(m, dict) and m.get("type") == "hello"]
    assert len(hello) >= 2, "the page did not say hello again after reconnecting"
    page.wait_for_function("(c) => JSON.stringify(window.backlitDebug.state.config) === JSON.stringify(c)",
                           arg=config)
    assert app.config() == config
    header = page.evaluate("() => window.backlitDebug.lastFrameHeader")
    for got, want in zip(header["weights"], weights):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-7)
    for got, want in zip(header["biases"], biases):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-7)
    expect(page.locator("#dataset")).to_have_value("circle")
    expect(page.locator("#activation")).to_have_value("relu")
    assert app.columns() == 4
    expect(page.locator("#network .neuron[data-col='1']")).to_have_count(5)
    assert not app.page_errors, app.page_errors


def test_learning_rate_10_diverges_pauses_and_draws_no_nan(app):
    app.open()
    page = app.page
    # A linear regression net with lr 10 blows up within a few steps (BCE on tanh would stay finite).
    page.select_option("#dataset", "plane")
    app.wait_config(dataset="plane")
    page.select_option("#activation", "linear")
    app.wait_config(activation="linear")
    app.select_number("#lr", 10)
    app.wait_config(lr=10)
    app.button("Train").click()
    page.wait_for_function("() => window.backlitDebug.state.diverged === true", timeout=30_000)
    expect(page.locator("#status")).to_contain_text("diverged", ignore_case=True)
    expect(app.button("Train")).to_be_visible()  # paused, so the button offers to train again
    assert app.state()["playing"] is False
    app.wait_drawn()
    assert page.evaluate("() => window.__t.nonFinite + window.__t.badFrames") == 0
    for selector in ("#train-loss", "#test-loss", "#epoch"):
        text = page.locator(selector).inner_text()
        assert "nan" not in text.lower() and "inf" not in text.lower(), f"{selector} shows {text!r}"
    header = app.header()
    assert all(np.isfinite(np.asarray(w, dtype=float)).all() for w in header["weights"])
    assert header["diverged"] is True
    app.screenshot("diverged")
    assert not app.page_errors, app.page_errors


def test_save_downloads_the_session_and_load_restores_it_or_says_why_not(app, tmp_path):
    import json

    app.open()
    page = app.page
    page.select_option("#dataset", "circle")
    app.wait_config(dataset="circle")
    for _ in range(3):
        app.button("Step").click()
    page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step >= 3")
    config, weights = app.config(), app.header()["weights"]

    with page.expect_download() as download:
        app.button("Save").click()
    saved = tmp_path / "session.json"
    download.value.save_as(saved)
    session = json.loads(saved.read_text(encoding="utf-8"))
    assert session["config"]["dataset"] == "circle"
    np.testing.assert_allclose(np.concatenate([np.ravel(w) for w in session["weights"]]),
                               np.concatenate([np.ravel(w) for w in weights]), rtol=1e-12)

    page.select_option("#dataset", "xor")
    app.wait_config(dataset="xor")
    with page.expect_file_chooser() as chooser:
        app.button("Load").click()
    chooser.value.set_files(str(saved))
    app.wait_config(dataset="circle")
    page.wait_for_function(
        "(w) => JSON.stringify(window.backlitDebug.lastFrameHeader.weights) === JSON.stringify(w)", arg=weights
    )
    assert app.config() == config
    expect(page.locator("#dataset")).to_have_value("circle")

    for name, text in (("broken.json", "{not json"), ("foreign.json", '{"format": "something else"}')):
        bad = tmp_path / name
        bad.write_text(text, encoding="utf-8")
        with page.expect_file_chooser() as chooser:
            app.button("Load").click()
        chooser.value.set_files(str(bad))
        expect(page.locator("#status")).to_contain_text(name)
        assert app.config() == config, f"loading {name} changed the session"
    assert not app.page_errors, app.page_errors
