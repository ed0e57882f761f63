"""End to end in a real JupyterLab: the example notebook's `backlit.show` cell, Train, and the epoch counter.

Starts JupyterLab (headless, a random port on 127.0.0.1, a random token, a temporary root and settings),
opens examples/backprop.ipynb in Chromium, runs its cells down to `backlit.show(model, "xor")`, presses
Train in the widget and waits for the epoch counter to advance. Select or skip it by name:
``pytest -m jupyterlab`` / ``pytest -m "not jupyterlab"``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.jupyterlab

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "jupyterlab"
from backlit.cli.headless import free_port as _free_port, launch_args


@pytest.fixture
def jupyterlab(tmp_path):
    pytest.importorskip("jupyterlab")
    pytest.importorskip("anywidget")
    port, token = _free_port(), secrets.token_hex(16)
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(ROOT / "examples" / "backprop.ipynb", work / "backprop.ipynb")
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces")}
    log = open(tmp_path / "jupyterlab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--port-retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError("JupyterLab did not start:\n"
                                       + (tmp_path / "jupyterlab.log").read_text(errors="replace")[-3000:])
                time.sleep(0.3)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_train_in_the_widget_advances_the_epoch_counter(jupyterlab):
    sync_api = pytest.importorskip("playwright.sync_api")
    base, token = jupyterlab
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_args())
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # a returning visitor: the playground's first-visit tour would cover the widget
        page.add_init_script("try { localStorage.setItem('backlit.tour', 'skipped'); } catch (e) {}")
        try:
            page.goto(f"{base}/lab/tree/backprop.ipynb?token={token}")
            # the notebook is open (all its cells) and its kernel is idle
            n_cells = len(__import__("json").loads((ROOT / "examples" / "backprop.ipynb").read_text())["cells"])
            page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length === {n_cells}",
                                   timeout=90_000)
            page.wait_for_function("() => /\\|\\s*Idle/.test(document.getElementById('jp-main-statusbar')?.textContent"
                                   " || '')", timeout=90_000)
            cells = page.locator(".jp-Notebook .jp-Cell")
            show = next(i for i in range(cells.count())
                        if "jp-CodeCell" in (cells.nth(i).get_attribute("class") or "")
                        and "widget = backlit.show(model" in (cells.nth(i).text_content() or ""))
            cells.first.click()
            page.keyboard.press("Escape")  # command mode
            for _ in range(show + 1):  # run each cell down to and including backlit.show
                page.keyboard.press("Shift+Enter")
            widget = cells.nth(show).locator(".backlit-widget")
            play = widget.locator("#play")
            play.wait_for(timeout=90_000)
            epoch = widget.locator("#epoch")
            page.wait_for_function("() => document.querySelectorAll('.backlit-widget #network .neuron').length === 7",
                                   timeout=60_000)
            assert epoch.inner_text() == "0"
            play.click()
            page.wait_for_function("() => { const e = document.querySelector('.backlit-widget #epoch');"
                                   " return e && parseFloat(e.textContent) > 0; }", timeout=60_000)
            first = float(epoch.inner_text())
            page.wait_for_function(f"() => parseFloat(document.querySelector('.backlit-widget #epoch').textContent)"
                                   f" > {first}", timeout=60_000)
            assert play.get_attribute("aria-label") == "Pause"
            play.click()
            assert not [e for e in errors if "backlit" in e.lower() or "widget" in e.lower()], errors
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(ARTIFACTS / "train.png"))
            except Exception:
                pass
            browser.close()
