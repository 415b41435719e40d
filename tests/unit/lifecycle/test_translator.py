"""The bounded translation process: a call over its budget costs one child,
which is replaced; the next call works."""

from __future__ import annotations

import asyncio
import os
import pathlib
import resource
import sys

import pytest

from k8s_worker.lifecycle.translator import TranslationAborted, Translator, TranslatorLimits
from k8s_worker.tosca import VnfdError
from tests.vnfds import one_vdu


async def test_translates_in_a_child_and_reports_invalid_descriptors() -> None:
    translator = Translator(TranslatorLimits(processes=1, timeout=60))
    try:
        result = await translator.translate(one_vdu(), vnf_id="v1")
        assert [o["kind"] for o in result.objects] == ["Deployment"]
        (child,) = translator.child_pids()
        with pytest.raises(VnfdError) as invalid:
            await translator.translate("tosca_definitions_version: nope\n", vnf_id="v1")
        assert invalid.value.problems[0].property == "tosca_definitions_version"
        assert translator.child_pids() == [child]  # an invalid VNFD costs no child
    finally:
        translator.close()


async def test_a_call_over_its_time_budget_fails_alone_and_the_next_call_works() -> None:
    translator = Translator(TranslatorLimits(processes=1, timeout=60))
    try:
        await translator.start()
        (child,) = translator.child_pids()
        translator.limits = TranslatorLimits(processes=1, timeout=0.001)
        with pytest.raises(TranslationAborted, match="longer than"):
            await translator.translate(one_vdu(max_instances=4), vnf_id="v2")
        translator.limits = TranslatorLimits(processes=1, timeout=60)
        result = await translator.translate(one_vdu(), vnf_id="v3")
        assert result.vnf_id == "v3"
        assert translator.child_pids() == [child]  # only the call paid, not the child
    finally:
        translator.close()


async def test_the_child_has_the_address_space_limit() -> None:
    limit = 768 << 20
    translator = Translator(TranslatorLimits(processes=1, timeout=60, memory_bytes=limit))
    try:
        await translator.start()
        loop = asyncio.get_running_loop()
        soft, hard = await loop.run_in_executor(
            translator._executor(), resource.getrlimit, resource.RLIMIT_AS
        )
        assert (soft, hard) == (limit, limit)
        assert resource.getrlimit(resource.RLIMIT_AS)[0] != limit  # not the replica's own
    finally:
        translator.close()


ROOT = pathlib.Path(__file__).resolve().parents[3]
REPLICA = """
import asyncio, sys
from k8s_worker.lifecycle.translator import Translator, TranslatorLimits

async def main():
    translator = Translator(TranslatorLimits(processes=1))
    await translator.start()
    print(*translator.child_pids(), flush=True)
    await asyncio.sleep(120)

if __name__ == "__main__":
    asyncio.run(main())
"""


async def test_a_killed_replica_leaves_no_translation_process_behind(tmp_path) -> None:
    """Its pool worker (the fork server's child) and the fork server end with
    it, and nothing keeps its stdout open (a harness reading it would hang)."""
    script = tmp_path / "replica.py"
    script.write_text(REPLICA)
    root = str(ROOT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    (worker,) = map(int, line.split())
    proc.kill()
    await proc.wait()
    assert await asyncio.wait_for(proc.stdout.read(), 20) == b""  # EOF: nobody holds it
    for _ in range(100):
        if not _alive(worker):
            break
        await asyncio.sleep(0.1)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
