"""The playground page (issue 5): load, data, training controls, network editing, URL state, keyboard."""

from __future__ import annotations

from playwright.sync_api import expect


def test_page_loads_with_its_views_and_controls(app):
    app.open()
    page = app.page
    expect(page.get_by_label("Decision boundary")).to_be_visible()
    expect(page.get_by_label("Network", exact=True)).to_be_visible()
    expect(page.get_by_label("Loss curve")).to_be_visible()
    for name in ("Train", "Step", "Reset", "Regenerate", "Add layer", "Remove layer"):
        expect(app.button(name)).to_be_visible()
    assert app.epoch() == 0
    for selector in ("#train-loss", "#test-loss"):
        assert app.number(selector) > 0
    # Default network 2-4-2-1: inputs, two hidden layers, output.
    assert app.columns() == 4
    assert app.state()["sizes"] == [2, 4, 2, 1]
    # The frame carries a 100x100 boundary and the neuron maps, without NaN.
    names = {a["name"]: a["shape"] for a in app.header()["arrays"]}
    assert names["boundary"] == [100, 100]
    assert names["neurons"][0] == 2 + 4 + 2 + 1
    assert app.page.evaluate("() => window.__t.nonFinite + window.__t.badFrames") == 0
    assert not app.page_errors, app.page_errors


def test_changing_the_dataset_redraws_the_plane(app):
    app.open()
    assert app.config()["dataset"] == "circle"
    app.snap("before")
    app.page.select_option("#dataset", "spiral")
    app.wait_config(dataset="spiral")
    app.wait_pixels_change("before", fraction=0.02)
    expect(app.page.locator("#dataset")).to_have_value("spiral")
    # The selected sample (ring and input-gradient arrow) follows the new data: its trace is of a
    # training point of the spiral set, not the old circle point.
    app.page.wait_for_function(
        """() => {
            const t = window.backlitDebug.lastTrace, pts = window.__t.lastByType.points;
            const sel = Number(document.querySelector('#plane').dataset.selected);
            if (!t || !pts || !pts.train[sel]) return false;
            return Math.abs(t.x[0] - pts.train[sel][0]) < 1e-9 && Math.abs(t.x[1] - pts.train[sel][1]) < 1e-9;
        }"""
    )
    assert not app.page_errors, app.page_errors


def start_training(app):
    app.button("Train").click()
    expect(app.button("Pause")).to_be_visible()
    app.page.wait_for_function("() => window.backlitDebug.state.playing === true")


def pause_training(app):
    app.button("Pause").click()
    expect(app.button("Train")).to_be_visible()
    app.page.wait_for_function("() => window.backlitDebug.state.playing === false")


def test_training_for_two_seconds_raises_epoch_lowers_loss_and_reshapes_boundary(app):
    app.open()
    epoch0 = app.epoch()
    loss0 = app.number("#train-loss")
    app.snap("initial")
    start_training(app)
    app.page.wait_for_timeout(2000)  # the issue asks for about two seconds of training
    # On a loaded machine two seconds may be little work: wait for clear progress, not a fixed amount.
    app.page.wait_for_function(
        "(e0) => Number(document.querySelector('#epoch').textContent.replace(/[^0-9]/g, '')) >= e0 + 3",
        arg=epoch0,
    )
    pause_training(app)
    app.wait_drawn()
    assert app.epoch() > epoch0
    assert app.number("#train-loss") < loss0
    assert app.diff("initial") > 0.01, "the decision boundary did not change while training"
    # The displayed loss is the server's.
    assert abs(app.number("#train-loss") - app.header()["train_loss"]) <= 1e-3 * max(1.0, loss0)
    assert not app.page_errors, app.page_errors


def test_pause_stops_training(app):
    app.open()
    start_training(app)
    app.page.wait_for_function("() => Number(window.backlitDebug.lastFrameHeader.epoch) >= 1")
    pause_training(app)
    app.page.wait_for_function("() => window.backlitDebug.lastFrameHeader.playing === false")
    app.wait_drawn()
    epoch = app.epoch()
    step = app.header()["step"]
    frames = app.page.evaluate("() => window.__t.frames")
    app.page.wait_for_timeout(800)  # nothing may happen in this interval
    assert app.epoch() == epoch
    assert app.header()["step"] == step
    assert app.page.evaluate("() => window.__t.frames") <= frames + 1  # at most one frame in flight
    assert app.header()["playing"] is False, "a frame sent after the pause says it is still playing"
    expect(app.button("Train")).to_be_visible()


def test_reset_returns_to_epoch_zero_and_the_initial_weights(app):
    app.open()
    initial = app.header()
    app.snap("initial")
    for _ in range(3):
        app.button("Step").click()
    app.page.wait_for_function("(s) => window.backlitDebug.lastFrameHeader.step >= s + 3", arg=initial["step"])
    start_training(app)
    app.page.wait_for_function("() => window.backlitDebug.lastFrameHeader.epoch >= 1")
    pause_training(app)
    assert app.epoch() >= 1
    app.button("Reset").click()
    app.page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step === 0")
    expect(app.page.locator("#epoch")).to_have_text("0")
    header = app.header()
    assert header["weights"] == initial["weights"], "reset must re-initialise from the same seed"
    assert header["biases"] == initial["biases"]
    app.wait_drawn()
    assert app.diff("initial") < 0.01, "the boundary after reset differs from the initial one"


def test_network_editing_adds_and_removes_columns_and_neurons(app):
    app.open()
    assert app.columns() == 4
    app.button("Add layer").click()
    app.page.wait_for_function("() => window.backlitDebug.state.config.hidden.length === 3")
    expect(app.page.locator("#network .neuron[data-col='4']").first).to_be_attached()
    assert app.columns() == 5
    hidden = app.config()["hidden"]

    col1 = app.page.locator("#network .neuron[data-col='1']")
    n1 = col1.count()
    assert n1 == hidden[0]
    app.button("Add neuron to layer 1").click()
    expect(col1).to_have_count(n1 + 1)
    app.button("Remove neuron from layer 1").click()
    expect(col1).to_have_count(n1)

    app.button("Remove layer").click()
    app.page.wait_for_function("() => window.backlitDebug.state.config.hidden.length === 2")
    expect(app.page.locator("#network .neuron[data-col='4']")).to_have_count(0)
    assert app.columns() == 4
    # Links follow the architecture: one per weight.
    sizes = app.state()["sizes"]
    n_links = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    expect(app.page.locator("#network .link")).to_have_count(n_links)
    assert not app.page_errors, app.page_errors


def test_url_hash_reproduces_the_configuration(app, browser, base_url):
    app.open()
    page = app.page
    page.select_option("#dataset", "xor")
    app.wait_config(dataset="xor")
    page.select_option("#activation", "relu")
    app.wait_config(activation="relu")
    app.select_number("#lr", 0.1)
    app.wait_config(lr=0.1)
    page.locator("button.feature[data-feature='x1x2']").click()
    app.page.wait_for_function("() => window.backlitDebug.state.config.features.includes('x1x2')")
    app.button("Add neuron to layer 2").click()
    app.page.wait_for_function("() => window.backlitDebug.state.config.hidden[1] === 3")
    hash_before = page.evaluate("() => location.hash")
    page.locator("#show-test").check()
    app.page.wait_for_function("(h) => location.hash !== h", arg=hash_before)
    config = app.config()
    app.wait_drawn()
    app.snap("configured")
    before = app.page.evaluate("() => window.__t.snaps.configured")
    url_hash = page.evaluate("() => location.hash")
    assert len(url_hash) > 1, "the configuration is not in the URL hash"

    # A fresh browser context (no shared storage): only the URL carries the state.
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    try:
        other = type(app)(context.new_page(), base_url)
        other.open(url_hash)
        assert other.config() == config
        expect(other.page.locator("#dataset")).to_have_value("xor")
        expect(other.page.locator("#activation")).to_have_value("relu")
        assert abs(float(other.page.locator("#lr").input_value()) - 0.1) < 1e-12
        expect(other.page.locator("button.feature[data-feature='x1x2']")).to_have_attribute("aria-pressed", "true")
        expect(other.page.locator("button.feature[data-feature='x1']")).to_have_attribute("aria-pressed", "true")
        expect(other.page.locator("#show-test")).to_be_checked()
        assert other.columns() == 4
        expect(other.page.locator("#network .neuron[data-col='2']")).to_have_count(3)
        # Same seed, same configuration: the same initial weights and the same picture.
        assert other.header()["weights"] == app.header()["weights"]
        other.page.evaluate("(s) => { window.__t.snaps.configured = s; }", before)
        assert other.diff("configured") < 0.01
        other.screenshot("url-hash-restored")
    finally:
        context.close()

    # A plain reload restores it too.
    page.reload()
    app.wait_ready()
    assert app.config() == config


def test_keyboard_space_plays_and_pauses_and_arrow_steps(app):
    app.open()
    app.blur()
    step0 = app.header()["step"]
    app.page.keyboard.press("ArrowRight")
    app.page.wait_for_function("(s) => window.backlitDebug.lastFrameHeader.step === s + 1", arg=step0)
    app.page.keyboard.press("Space")
    expect(app.button("Pause")).to_be_visible()
    app.page.wait_for_function("(s) => window.backlitDebug.lastFrameHeader.step > s + 1", arg=step0)
    app.page.keyboard.press("Space")
    expect(app.button("Train")).to_be_visible()
    app.page.wait_for_function("() => window.backlitDebug.state.playing === false")


HUE_HISTOGRAM = """() => {
    const c = document.querySelector('#plane');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const bins = new Array(36).fill(0);
    for (let k = 0; k < d.length; k += 4) {
        const r = d[k] / 255, g = d[k + 1] / 255, b = d[k + 2] / 255;
        const mx = Math.max(r, g, b), mn = Math.min(r, g, b), ch = mx - mn;
        if (ch < 0.25) continue;  // greys, the dark background, white marks
        let h = mx === r ? 60 * (((g - b) / ch) % 6) : mx === g ? 60 * ((b - r) / ch + 2) : 60 * ((r - g) / ch + 4);
        if (h < 0) h += 360;
        bins[Math.min(35, Math.floor(h / 10))]++;
    }
    return bins;
}"""


def hue_clusters(bins: list[int], min_pixels: int = 100) -> list[tuple[int, int]]:
    """Groups of adjacent 10-degree hue bins (circular) holding at least min_pixels each:
    [(first_degree, pixels), ...]."""
    on = [b >= min_pixels for b in bins]
    if all(on):
        return [(0, sum(bins))]
    start = on.index(False)
    clusters, current = [], None
    for step in range(1, 37):
        k = (start + step) % 36
        if on[k]:
            current = [k * 10, bins[k]] if current is None else [current[0], current[1] + bins[k]]
        elif current is not None:
            clusters.append(tuple(current))
            current = None
    if current is not None:
        clusters.append(tuple(current))
    return clusters


def test_multiclass_data_gets_one_hue_per_class_never_orange_or_green(app):
    app.open()
    page = app.page
    page.select_option("#dataset", "blobs")
    app.wait_config(dataset="blobs")
    assert app.config()["loss"] == "cross_entropy"
    expect(page.locator("#network .neuron[data-col='3']")).to_have_count(3)
    for classes in (3, 5):
        if classes != 3:
            page.select_option("#classes", str(classes))
            app.wait_config(classes=classes)
            expect(page.locator("#network .neuron[data-col='3']")).to_have_count(classes)
        page.wait_for_function(
            "(k) => window.__t.lastByType.points && window.__t.lastByType.points.classes === k", arg=classes
        )
        # Every class's points (and its region) show up in a hue of its own.
        page.wait_for_function(
            f"(k) => {{ const bins = ({HUE_HISTOGRAM})(); let n = 0, run = false;"
            " for (let q = 0; q < 37; q++) { const on = bins[q % 36] >= 100; if (on && !run) n++; run = on; }"
            " return n >= k; }",
            arg=classes,
        )
        bins = page.evaluate(HUE_HISTOGRAM)
        clusters = hue_clusters(bins)
        assert len(clusters) >= classes, f"{classes} classes but hue clusters {clusters}"
        orange = sum(bins[2:5])  # 20..50 degrees: the "increase" colour
        green = sum(bins[10:16])  # 100..160 degrees: the "decrease" colour
        assert orange < 50 and green < 50, f"class colours use gradient hues: orange={orange} green={green}"
        app.screenshot(f"multiclass-{classes}")
