"""The test bed can be asked for again while it runs.

Every pytest-xdist worker asks ``tools/testbed/up.sh`` for the bed at start-up;
up.sh serializes them with a lock file.  A daemon that up.sh started must not
hold that lock, or every later request waits forever (CI once timed out on it).
"""

from __future__ import annotations

import os
import pathlib
import subprocess

from tests.conftest import STATE, TESTBED


def _fds_on(pid: int, target: pathlib.Path) -> list[str]:
    fds = []
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == str(target):
                fds.append(fd.name)
        except OSError:
            continue
    return fds


def test_no_bed_daemon_holds_the_lock_and_up_returns_at_once() -> None:
    subprocess.run(["bash", str(TESTBED / "up.sh"), "kube"], check=True, timeout=1800)
    lock = STATE / "up.lock"
    holders = {}
    for pidfile in STATE.glob("*.pid"):
        pid = int(pidfile.read_text().strip() or 0)
        if pid and pathlib.Path(f"/proc/{pid}").exists():
            fds = _fds_on(pid, lock)
            if fds:
                holders[pidfile.stem] = fds
    assert holders == {}, f"test bed daemons hold {lock}: {holders}"
    # A second request for the running bed returns at once (it only checks what runs).
    subprocess.run(["bash", str(TESTBED / "up.sh"), "kube"], check=True, timeout=120)
