"""The update operation's first step: its new descriptor or configuration
goes into the record's spec, checked first, and the descriptor that ran is
kept referenced (``previousVnfdRef``) for a rollback to go back to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from k8s_worker.lifecycle.outcome import OperationFailed
from k8s_worker.record import Operation, RecordStore, VnfRecord
from k8s_worker.record.descriptors import is_ref
from k8s_worker.tosca import Translation


async def apply_update_spec(
    rec: VnfRecord,
    op: Operation,
    *,
    store: RecordStore,
    translate: Callable[[VnfRecord], Awaitable[Translation]],
    fence: Callable[[VnfRecord], None],
) -> VnfRecord:
    """Write an update's new descriptor or configuration into the record's
    spec (the record as stored); OperationFailed, and nothing written, when
    the result would not translate or names containers it does not have.
    ``fence`` raises when this replica may no longer write for the VNF."""
    changed = False
    # What a rollback restores (restore_previous_spec).
    # Taken once: a pass re-run after a lost write sees the new spec already.
    op.progress.setdefault(
        "previousSpec",
        {k: rec.spec[k] for k in ("vnfdRef", "vnfd", "config") if rec.spec.get(k) is not None},
    )
    op.progress.setdefault("previousReplicas", dict(rec.desired_replicas))
    new_ref = op.args.get("vnfdRef")
    current_ref = rec.spec.get("vnfdRef")
    if is_ref(new_ref) and (current_ref or {}).get("sha256") != new_ref["sha256"]:
        # The one that ran stays referenced, for a rollback to go back to
        # (an inline one of an earlier version is stored by content first).
        if is_ref(current_ref):
            rec.spec["previousVnfdRef"] = current_ref
        elif rec.spec.get("vnfd"):
            rec.spec["previousVnfdRef"] = await store.descriptors.put(rec.spec["vnfd"])
        rec.spec["vnfdRef"] = new_ref
        rec.spec.pop("vnfd", None)
        changed = True
    elif op.args.get("vnfd") is not None and rec.spec.get("vnfd") != op.args["vnfd"]:
        # Journaled inline by an earlier version.
        rec.spec["vnfd"] = op.args["vnfd"]
        rec.spec.pop("vnfdRef", None)
        changed = True
    if op.args.get("config"):
        merged = dict(rec.spec.get("config") or {})
        for vdu, containers in op.args["config"].items():
            slot = dict(merged.get(vdu) or {})
            for container, values in (containers or {}).items():
                slot[container] = {**(slot.get(container) or {}), **(values or {})}
            merged[vdu] = slot
        if merged != rec.spec.get("config"):
            rec.spec["config"] = merged
            changed = True
    if not changed:
        return rec
    # A descriptor that does not translate, or a config for containers it does
    # not have, is refused before it is stored, so the VNF keeps running,
    # scaling and healing from the one it has.
    translation = await translate(rec)
    unknown = [
        f"{vdu}/{container}" if vdu in translation.vdu_names() else vdu
        for vdu, containers in (op.args.get("config") or {}).items()
        for container in (containers or {"": None})
        if vdu not in translation.vdu_names()
        or container not in dict(translation.vdu(vdu).config_maps)
    ]
    if unknown:
        known = [f"{v.name}/{c}" for v in translation.vdus for c in dict(v.config_maps)] or ["none"]
        raise OperationFailed(
            "InvalidConfig",
            f"no configurable container {', '.join(sorted(set(unknown)))} "
            f"(containers with a config: {', '.join(known)})",
            vnf_status=None,
        )
    fence(rec)
    stored = await store.write_spec(rec)
    return stored.keep_status(rec)


async def restore_previous_spec(
    rec: VnfRecord,
    op: Operation,
    *,
    store: RecordStore,
    fence: Callable[[VnfRecord], None],
) -> VnfRecord:
    """Put back the descriptor and configuration an update replaced (once:
    ``op.progress["restored"]``), so that its rollback rolls the objects to
    them; the record as stored."""
    if op.progress.get("restored"):
        return rec
    previous = op.progress.get("previousSpec")
    if isinstance(previous, dict):
        for key in ("vnfdRef", "vnfd", "config"):
            if key in previous:
                rec.spec[key] = previous[key]
            else:
                rec.spec.pop(key, None)
        fence(rec)
        rec = (await store.write_spec(rec)).keep_status(rec)
    replicas = op.progress.get("previousReplicas")
    if isinstance(replicas, dict):
        rec.desired_replicas.clear()
        rec.desired_replicas.update({str(k): int(v) for k, v in replicas.items()})
    op.progress["restored"] = True
    op.progress.pop("applied", None)
    return rec
