"""With the notification broker away, automation goes on: a failed pod is
healed; its events wait in the VNF record, in order, merged past the outbox
cap, and arrive once the broker is back."""

from __future__ import annotations

import asyncio
import pathlib
import uuid

from kubernetes_asyncio import client

from k8s_worker.tosca import LABEL_VNF_ID
from tests.functional.harness import Conductor, Events, Names, WorkerProcess, write_config
from tests.functional.kube_wait import CHAOS_FAILED, pod_ready, wait_for_pods
from tests.functional.private_rabbit import PrivateRabbit
from tests.vnfds import heal_policy, one_vdu


async def test_a_failed_pod_is_healed_while_the_broker_is_down_and_its_events_follow_in_order(
    private_rabbit: PrivateRabbit,
    private_broker: str,
    transport_url: str,
    kubeconfig: str,
    kube_api: object,
    namespace: str,
    tmp_path: pathlib.Path,
) -> None:
    names = Names.fresh()
    config = write_config(
        tmp_path / "worker.conf",
        names=names,
        transport_url=transport_url,  # requests come in through the shared broker
        kubeconfig=kubeconfig,
        host="outage-1",
        extra=f"[oslo_messaging_notifications]\ntransport_url = {private_broker}\n"
        "[limits]\noutbox_coalesce_after = 2\n",
    )
    worker = WorkerProcess(config, log=tmp_path / "worker.log")
    await worker.start()
    events = Events(private_broker, names)
    core = client.CoreV1Api(kube_api)
    vnf_id = str(uuid.uuid4())
    selector = f"{LABEL_VNF_ID}={vnf_id}"
    stopped = False
    try:
        conductor = Conductor(transport_url, names)
        vnfd = one_vdu(default_instances=2, policies=heal_policy(max_attempts=5, backoff=0))
        vnf = {"id": vnf_id, "name": "outage", "tenant_id": "tenant-1", "vnfd": vnfd}
        await conductor("instantiate_vnf", vnf=vnf | {"namespace": namespace}, op_id="o-i")
        await events.wait(vnf_id, "vnf.instantiate.end", within=90)
        # The status change that follows the .end is published with it:
        # counted only once it arrived (it could land after the count).
        await events.wait(vnf_id, "vnf.status.update", status="ACTIVE", within=30)
        before = len(events.of(vnf_id))

        await asyncio.to_thread(private_rabbit.ctl, "stop_app")
        stopped = True
        pods = await wait_for_pods(
            kube_api,
            namespace=namespace,
            selector=selector,
            predicate=lambda ps: sum(pod_ready(p) for p in ps.values()) == 2,
        )
        victims = sorted(pods)
        for victim in victims:  # both at once
            await core.patch_namespaced_pod(
                victim, namespace, {"metadata": {"labels": {CHAOS_FAILED: "true"}}}
            )
        # Healed with the broker down: two new ready pods, the failed ones gone.
        await wait_for_pods(
            kube_api,
            namespace=namespace,
            selector=selector,
            predicate=lambda ps: (
                sum(pod_ready(p) for n, p in ps.items() if n not in victims) == 2
                and not set(victims) & set(ps)
            ),
            within=90,
            what="the failed pods replaced",
        )
        assert len(events.of(vnf_id)) == before  # nothing could be delivered meanwhile

        await asyncio.to_thread(private_rabbit.ctl, "start_app")
        stopped = False
        heals = await events.wait(vnf_id, "vnf.heal.end", within=90)
        await events.wait(vnf_id, "vnf.status.update", status="ACTIVE", within=30, count=2)
        await asyncio.sleep(2)  # the rest of the outbox
        received = events.of(vnf_id)
        sequences = [e["payload"]["sequence"] for e in received]
        # In order and gapless: nothing lost, nothing repeated, merged events
        # keep their place.
        assert sorted(set(sequences)) == list(range(1, max(sequences) + 1)), sequences
        after = [e for e in received if e["payload"]["sequence"] > before]
        assert [e["payload"]["sequence"] for e in after] == sorted(
            e["payload"]["sequence"] for e in after
        )
        # Every replaced pod is reported: by an event of its own, or inside a
        # merged one (coalesced: n) when respawns followed each other.
        respawns = [e["payload"] for e in after if e["event_type"] == "vnf.respawn"]
        assert sum(int(r.get("coalesced", 1)) for r in respawns) == 2, respawns
        assert {r["old_pod"] for r in respawns} <= set(victims)
        assert heals and all(h["payload"]["automatic"] for h in heals)
    finally:
        if stopped:  # a failure while it was down must not leave it down for the next tests
            await asyncio.to_thread(private_rabbit.ctl, "start_app")
        await conductor("terminate_vnf", vnf_id=vnf_id, op_id="o-t")
        events.stop()
        assert await worker.stop() == 0
