"""The README's main command, ``tools/demo``, runs from start to end.

It is run exactly as a user runs it (its shell part makes sure the venv and
the test bed are up), and its output must show every scripted step with the
notifications that prove it happened.
"""

from __future__ import annotations

import asyncio
import os
import signal

from tests.functional.harness import ROOT


async def test_the_demo_plays_every_step_and_cleans_up(amqp_url: str, kubeconfig: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / "tools" / "demo"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=str(ROOT),
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 540)
    finally:
        if proc.returncode is None:
            # Ctrl-C: the demo's own clean-up stops its replicas and its VNF.
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    for expected in (
        "==> Start two worker replicas",
        "vnf.instantiate.end",
        "vnf.respawn",
        "respawned: ",
        "vnf.scale.end",
        "op_id=demo-scale-out",
        "decision=act",
        "second alarm held: cooldown",
        "vnf.terminate.end",
        "pods of the VNF left: 0",
        "tacker_k8s_worker_operations_total",
        "replicas exited with [0, 0]",
        "demo finished",
    ):
        assert expected in text, f"{expected!r} missing from the demo's output:\n{text[-6000:]}"
    assert "demo-token-never-logged" not in text
    assert "alarm step skipped" not in text
