"""Issue 13: the page on every screen, for every user, and through every fault (real Chromium)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from playwright.sync_api import expect




def weights_of(app):
    h = app.header()
    return h["weights"], h["biases"]


def assert_same_weights(got, want, rtol=1e-6, atol=1e-7):
    for g, w in zip(got[0] + got[1], want[0] + want[1]):
        np.testing.assert_allclose(np.asarray(g, float), np.asarray(w, float), rtol=rtol, atol=atol)


# ---- faults ---------------------------------------------------------------------------------------

def test_a_lost_server_shows_a_banner_disables_the_controls_and_comes_back_fast(app, own_server):
    app.open(base_url=own_server.url)
    page = app.page
    app.button("Train").click()
    expect(app.button("Pause")).to_be_visible()
    banner = page.locator("#offline-banner")
    expect(banner).to_be_hidden()

    t0 = time.monotonic()
    own_server.stop()
    expect(banner).to_be_visible(timeout=2000)
    assert time.monotonic() - t0 < 2 + 3.5  # stop() itself waits for uvicorn's graceful shutdown
    assert banner.get_attribute("role") == "alert"
    expect(banner).to_contain_text("connection")
    expect(page.get_by_role("button", name="Retry now")).to_be_visible()
    # Train shows the paused state, and what needs the server is off; local options stay on
    expect(page.locator("#play")).to_have_attribute("aria-label", "Train")
    for sel in ("#play", "#step", "#reset", "#add-layer", "#forward", "#dataset", "#lr", "#save"):
        expect(page.locator(sel)).to_be_disabled()
    expect(page.locator("#cb-palette")).to_be_enabled()
    app.screenshot("offline-banner")
    page.get_by_role("button", name="Retry now").click()   # nothing there yet: still offline
    expect(banner).to_be_visible()
    expect(page.locator(":focus")).not_to_have_count(0)

    own_server.start()
    t1 = time.monotonic()
    expect(banner).to_be_hidden(timeout=4000)
    assert time.monotonic() - t1 < 3.0, "the first retry after a restart came later than 2 s (+1 s to connect)"
    for sel in ("#play", "#step", "#add-layer", "#dataset", "#save"):
        expect(page.locator(sel)).to_be_enabled()
    assert not app.page_errors


def test_a_reload_restores_the_configuration_and_the_weights(app):
    app.open()
    page = app.page
    page.select_option("#activation", "relu")
    app.wait_config(activation="relu")
    for _ in range(4):
        app.button("Step").click()
    page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step >= 4")
    page.wait_for_timeout(700)  # the tab stores its session at most twice a second
    step = app.header()["step"]
    want = weights_of(app)
    page.reload()
    app.wait_ready()
    assert app.config()["activation"] == "relu"
    page.wait_for_function("(s) => window.backlitDebug.lastFrameHeader.step === s", arg=step)
    assert_same_weights(weights_of(app), want)
    assert app.epoch() >= 0 and page.locator("#step-count").inner_text() == f"step {step}"


def test_a_reload_restores_the_session_after_a_server_restart(app, own_server):
    app.open(base_url=own_server.url)
    page = app.page
    for _ in range(3):
        app.button("Step").click()
    page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step >= 3")
    page.wait_for_timeout(700)
    want = weights_of(app)
    own_server.stop()
    own_server.start()
    page.reload()
    app.wait_ready()
    assert_same_weights(weights_of(app), want)


def test_add_layer_clicks_faster_than_a_round_trip_are_never_lost(app):
    app.open()
    page = app.page
    page.evaluate("() => { for (let k = 0; k < 2; k++) document.getElementById('remove-layer').click(); }")
    app.wait_config(hidden=[])
    page.evaluate("() => { for (let k = 0; k < 5; k++) document.getElementById('add-layer').click(); }")
    app.wait_config(hidden=[4, 4, 4, 4, 4])
    page.evaluate("() => { for (let k = 0; k < 12; k++) document.getElementById('add-layer').click(); }")
    app.wait_config(hidden=[4] * 8)
    page.evaluate("() => { for (let k = 0; k < 3; k++) document.querySelector('[aria-label=\"Add neuron to layer 1\"]').click(); }")
    app.wait_config(hidden=[7] + [4] * 7)


# ---- sharing --------------------------------------------------------------------------------------

def test_a_hash_is_a_complete_description(app, browser, base_url):
    app.open("d=xor&a=relu")
    page = app.page
    app.wait_config(dataset="xor", activation="relu")
    want = weights_of(app)
    # the same link in another tab: the same configuration, data and initial weights
    other = type(app)(browser.new_page(), base_url).open("d=xor&a=relu")
    assert other.config() == app.config()
    assert_same_weights(weights_of(other), want)
    assert other.page.evaluate("() => JSON.stringify(window.__t.lastByType.points)") == \
        page.evaluate("() => JSON.stringify(window.__t.lastByType.points)")
    other.page.close()
    # a hash that lacks a key means that key's default: activation goes back to tanh
    page.evaluate("() => { location.hash = 'd=spiral'; }")
    app.wait_config(dataset="spiral", activation="tanh")
    hellos = [m for m in page.evaluate("() => window.__t.sent") if isinstance(m, dict) and m.get("type") == "hello"]
    assert hellos[-1].get("url_state") == "d=spiral"


def test_copy_link_with_weights_opens_the_same_network(app, browser, base_url):
    app.open("d=xor&h=3")
    page = app.page
    for _ in range(3):
        app.button("Step").click()
    page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step >= 3")
    want = weights_of(app)
    page.get_by_role("button", name="Copy link with weights").click()
    page.wait_for_function("() => window.backlitDebug.app.copiedLink")
    link = page.evaluate("() => window.backlitDebug.app.copiedLink")
    assert "&w=2-3-1." in link
    other = type(app)(browser.new_page(), base_url)
    other.open(link.split("#", 1)[1])
    assert other.config()["hidden"] == [3] and other.config()["dataset"] == "xor"
    assert_same_weights(weights_of(other), want, rtol=1e-6, atol=1e-6)  # float32 in the link
    other.page.close()
