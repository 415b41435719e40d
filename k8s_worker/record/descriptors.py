"""Descriptors kept apart from the records: content-addressed, gzipped, chunked.

etcd refuses an object over about 1.5 MiB, and a record that carried its VNFD
(and an update's next one) could reach that.  A descriptor is written once per
distinct content, before the record that names it, as ConfigMaps
``vnfd-<sha256[:40]>-<part>`` in the record namespace (``binaryData`` of at
most ``CHUNK_BYTES`` each, gzip of the descriptor's text).  The record keeps
only a reference, ``{"sha256", "bytes", "form", "parts"}``; identical
descriptors share their chunks.  Content never changes under a name, so reads
are cached by digest.  ``collect`` deletes the chunks no record references any
more, once they were last put longer ago than a grace period (so chunks put
for a record about to be created, or an update about to be journaled, are
never taken, even when the same content was stored long before).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gzip
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, TypeGuard

import structlog

from k8s_worker.kube import KINDS, Kube, KubeNotFound

LOG = structlog.get_logger(__name__)
CONFIGMAP = KINDS["ConfigMap"]
SECRET = KINDS["Secret"]
#: Compressed bytes per ConfigMap (etcd's limit is 1.5 MiB, base64 adds a third).
CHUNK_BYTES = 900 * 1024
DESCRIPTOR_LABEL = "tacker.openstack.org/descriptor"
SHA_ANNOTATION = "tacker.openstack.org/sha256"
#: When the chunk was last put (epoch seconds); the grace counts from it.
PUT_ANNOTATION = "tacker.openstack.org/put-at"
#: Descriptors larger than this are not kept in the read cache (packages).
CACHED_BYTES_MAX = 1 << 20
#: Seconds an unreferenced chunk is kept (its record may be on its way).
COLLECT_GRACE = 600.0


def is_ref(value: Any) -> TypeGuard[dict[str, Any]]:
    """Whether ``value`` is a reference to a stored descriptor."""
    return isinstance(value, dict) and {"sha256", "parts", "form"} <= set(value)


def chunk_name(sha256: str, part: int) -> str:
    return f"vnfd-{sha256[:40]}-{part}"


def _digested(vnfd: str | dict[str, Any]) -> tuple[bytes, str, str]:
    raw, form = _canonical(vnfd)
    return raw, form, hashlib.sha256(raw).hexdigest()


def _unpacked(packed: bytes, sha256: str, *, json_form: bool) -> str | dict[str, Any]:
    raw = gzip.decompress(packed)
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise ValueError(f"the descriptor {sha256[:12]} does not match its digest")
    text = raw.decode()
    return json.loads(text) if json_form else text


def _canonical(vnfd: str | dict[str, Any]) -> tuple[bytes, str]:
    if isinstance(vnfd, str):
        return vnfd.encode(), "text"
    return json.dumps(vnfd, sort_keys=True, separators=(",", ":")).encode(), "json"


class DescriptorStore:
    """The descriptors of one namespace's records, by content.

    ``put`` stores a descriptor (a TOSCA text or a dict) and returns its
    reference; ``get`` returns the descriptor of a reference, exactly as it was
    put (KubeNotFound when a chunk is missing, ValueError when the chunks do
    not add up to the digest); ``collect`` removes unreferenced chunks.
    """

    def __init__(self, kube: Kube, *, namespace: str, cache_size: int = 64) -> None:
        self.kube = kube
        self.namespace = namespace
        self._cache: OrderedDict[str, str | dict[str, Any]] = OrderedDict()
        self._cache_size = cache_size

    def _remember(self, sha256: str, vnfd: str | dict[str, Any], size: int = 0) -> None:
        if size > CACHED_BYTES_MAX:
            return  # a large package is read again when needed, not held
        self._cache[sha256] = vnfd
        self._cache.move_to_end(sha256)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def put(self, vnfd: str | dict[str, Any], *, secret: bool = False) -> dict[str, Any]:
        """Store ``vnfd`` (in Secrets when ``secret``: a package whose manifests
        may hold Secrets) and return its reference."""
        # (A package may be tens of MiB: serialized and hashed off the loop.)
        raw, form, sha256 = await asyncio.to_thread(_digested, vnfd)
        packed = await asyncio.to_thread(gzip.compress, raw, 6, mtime=0)
        put_at = str(int(time.time()))
        chunks = [packed[i : i + CHUNK_BYTES] for i in range(0, len(packed), CHUNK_BYTES)]
        for part, chunk in enumerate(chunks):
            await self.kube.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Secret" if secret else "ConfigMap",
                    "metadata": {
                        "name": chunk_name(sha256, part),
                        "namespace": self.namespace,
                        "labels": {DESCRIPTOR_LABEL: sha256[:40]},
                        # An immutable ConfigMap's metadata may still change:
                        # putting known content again renews its grace.
                        "annotations": {SHA_ANNOTATION: sha256, PUT_ANNOTATION: put_at},
                    },
                    "immutable": True,
                    # (A Secret's data is base64 as a ConfigMap's binaryData is.)
                    ("data" if secret else "binaryData"): {
                        "chunk": base64.b64encode(chunk).decode()
                    },
                }
            )
        self._remember(sha256, vnfd, len(raw))
        ref = {"sha256": sha256, "bytes": len(raw), "form": form, "parts": len(chunks)}
        if secret:
            ref["kind"] = "Secret"
        return ref

    async def get(self, ref: dict[str, Any]) -> str | dict[str, Any]:
        sha256 = str(ref["sha256"])
        cached = self._cache.get(sha256)
        if cached is not None:
            self._cache.move_to_end(sha256)
            return cached
        packed = b""
        kind = SECRET if ref.get("kind") == "Secret" else CONFIGMAP
        for part in range(int(ref["parts"])):
            obj = await self.kube.get_or_none(
                kind, name=chunk_name(sha256, part), namespace=self.namespace
            )
            if obj is None:
                raise KubeNotFound(
                    f"the descriptor {sha256[:12]} is missing its part {part} "
                    f"({kind.kind} {chunk_name(sha256, part)})",
                    status=404,
                )
            field = "data" if kind is SECRET else "binaryData"
            packed += base64.b64decode((obj.get(field) or {}).get("chunk", ""))
        vnfd = await asyncio.to_thread(
            _unpacked, packed, sha256, json_form=ref.get("form") == "json"
        )
        self._remember(sha256, vnfd, int(ref.get("bytes") or 0))
        return vnfd

    async def collect(self, referenced: Iterable[str], *, grace: float = COLLECT_GRACE) -> int:
        """Delete the chunks of descriptors not in ``referenced`` (digests) that
        are older than ``grace`` seconds; how many chunks went."""
        keep = set(referenced)
        items, _ = await self.kube.list(
            CONFIGMAP, namespace=self.namespace, selector=DESCRIPTOR_LABEL
        )
        secrets, _ = await self.kube.list(
            SECRET, namespace=self.namespace, selector=DESCRIPTOR_LABEL
        )
        now, gone = time.time(), 0
        for kind, obj in [(CONFIGMAP, o) for o in items] + [(SECRET, o) for o in secrets]:
            meta = obj["metadata"]
            sha256 = (meta.get("annotations") or {}).get(SHA_ANNOTATION, "")
            if sha256 in keep:
                continue
            created = meta.get("creationTimestamp")
            born = (
                dt.datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()
                if created
                else 0.0
            )
            try:
                put_at = float((meta.get("annotations") or {}).get(PUT_ANNOTATION, 0))
            except ValueError:
                put_at = 0.0
            if now - max(born, put_at) < grace:
                continue
            if meta.get("deletionTimestamp"):
                continue
            # Nothing depends on a chunk: gone at once, not through the collector.
            await self.kube.delete(
                kind,
                name=meta["name"],
                namespace=self.namespace,
                propagation="Background",
            )
            self._cache.pop(sha256, None)
            gone += 1
        return gone
