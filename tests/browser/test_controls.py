"""Every TF-Playground control reaches the server, lands in the URL, and shows; weights can be edited."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect


def set_range(app, selector: str, value: float) -> None:
    """Move a range input the way a drag does: set the value, fire input and change."""
    app.page.evaluate(
        """([sel, v]) => {
            const el = document.querySelector(sel);
            el.value = String(v);
            el.dispatchEvent(new Event('input', {bubbles: true}));
            el.dispatchEvent(new Event('change', {bubbles: true}));
        }""",
        [selector, value],
    )


# (id, action, expected config subset)
CONTROLS = [
    ("dataset", lambda app: app.page.select_option("#dataset", "moons"), {"dataset": "moons"}),
    ("noise", lambda app: set_range(app, "#noise", 0.25), {"noise": 0.25}),
    ("train-ratio", lambda app: set_range(app, "#train-ratio", 0.7), {"train_ratio": 0.7}),
    ("batch-size", lambda app: set_range(app, "#batch-size", 30), {"batch_size": 30}),
    ("activation", lambda app: app.page.select_option("#activation", "sigmoid"), {"activation": "sigmoid"}),
    ("optimizer", lambda app: app.page.select_option("#optimizer", "adam"), {"optimizer": "adam"}),
    ("regularization", lambda app: app.page.select_option("#regularization", "l2"), {"regularization": "l2"}),
    ("problem", lambda app: app.page.select_option("#problem", "regression"),
     {"problem": "regression", "loss": "mse"}),
    ("feature", lambda app: app.page.locator("button.feature[data-feature='sin_x1']").click(),
     {"features": ["x1", "x2", "sin_x1"]}),
    ("regenerate", lambda app: app.button("Regenerate").click(), {"seed": 2}),
]


@pytest.mark.parametrize("name, act, expected", CONTROLS, ids=[c[0] for c in CONTROLS])
def test_control_changes_the_session_and_the_url(app, name, act, expected):
    app.open()
    hash_before = app.page.evaluate("() => location.hash")
    act(app)
    app.wait_config(**expected)
    app.page.wait_for_function("(h) => location.hash !== h", arg=hash_before)
    # The URL alone reproduces it.
    url_hash = app.page.evaluate("() => location.hash")
    app.page.goto("about:blank")
    app.open(url_hash)
    config = app.config()
    for key, value in expected.items():
        assert config[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def test_regularization_rate_and_learning_rate_keep_the_weights(app):
    app.open()
    app.button("Step").click()
    app.page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step === 1")
    weights = app.header()["weights"]
    app.page.select_option("#regularization", "l1")
    app.wait_config(regularization="l1")
    option = app.page.evaluate(
        "() => [...document.querySelector('#reg-rate').options].map(o => o.value).find(v => Number(v) > 0)"
    )
    app.page.select_option("#reg-rate", option)
    app.wait_config(reg_rate=float(option))
    app.select_number("#lr", 0.3)
    app.wait_config(lr=0.3)
    assert app.header()["weights"] == weights, "training settings must not re-initialise the network"
    # one Step is one batch of 10 of the 250 training points: the counters say so
    expect(app.page.locator("#epoch")).to_have_text("0.04")
    expect(app.page.locator("#step-count")).to_have_text("step 1")


def test_show_test_data_and_discretize_redraw_the_plane(app):
    app.open()
    app.snap("plain")
    app.page.locator("#show-test").check()
    app.wait_config(show_test=True)
    app.wait_pixels_change("plain", fraction=0.005)
    app.snap("with-test")
    app.page.locator("#discretize").check()
    app.wait_config(discretize=True)
    app.wait_pixels_change("with-test", fraction=0.005)




def test_hovering_a_link_shows_its_weight_and_clicking_lets_you_type_one(app):
    app.open()
    page = app.page
    layer, i, j = 0, 2, 1
    w = app.header()["weights"][layer][i][j]
    title = page.locator(f'#network .link[data-layer="{layer}"][data-i="{i}"][data-j="{j}"] title')
    expect(title).to_contain_text(re.compile(r"weight .* = [-+]?\d"))  # titles follow the weights every 200 ms
    shown = float(re.search(r"=\s*([-+]?\d*\.?\d+(?:e[-+]?\d+)?)", title.text_content()).group(1))
    assert shown == pytest.approx(w, rel=1e-3, abs=1e-4)

    point = app.link_point(layer, i, j)
    page.mouse.click(point["x"], point["y"])
    box = page.get_by_label("New weight value")
    expect(box).to_be_visible()
    box.fill("0.5")
    page.get_by_role("button", name="Set weight").click()
    page.wait_for_function(
        "([l, i, j]) => window.backlitDebug.lastFrameHeader.weights[l][i][j] === 0.5", arg=[layer, i, j]
    )
    expect(title).to_contain_text("0.5")

    sent = page.evaluate("() => window.__t.sent.length")
    box.fill("abc")
    page.get_by_role("button", name="Set weight").click()
    expect(page.locator("#inspector [role=alert]").first).to_contain_text("number")
    assert app.header()["weights"][layer][i][j] == 0.5
    assert not [m for m in page.evaluate("(n) => window.__t.sent.slice(n)", sent) if m.get("type") == "set_weight"]
