"""A small in-memory Kubernetes API for unit tests of the state machine: the
calls the record store makes (get, list, create, replace, apply, patch,
JSON Patch, delete), resourceVersions bumped on every write, 409 on a stale
one, 404 on a missing object, 422 on a failed JSON Patch test."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

from k8s_worker.kube import KubeConflict, KubeNotFound, KubeRejected
from k8s_worker.kube.kinds import Kind, kind_of

Obj = dict[str, Any]


class MemoryKube:
    """Objects by (path of their collection, name); ``writes`` counts writes."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Obj] = {}
        self._versions = itertools.count(1)
        self.writes = 0

    # -- helpers -------------------------------------------------------------------
    def _key(self, kind: Kind, namespace: str | None, name: str) -> tuple[str, str]:
        return (kind.path(namespace=namespace), name)

    def _store(self, key: tuple[str, str], obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._versions))
        meta.setdefault("uid", f"uid-{key[1]}")
        self.objects[key] = obj
        self.writes += 1
        return copy.deepcopy(obj)

    def bump(self, kind: Kind, *, name: str, namespace: str | None = None) -> None:
        """Another writer changed the object (its resourceVersion moves on)."""
        key = self._key(kind, namespace, name)
        self._store(key, self.objects[key])

    # -- the API -------------------------------------------------------------------
    async def get(self, kind: Kind, *, name: str, namespace: str | None = None) -> Obj:
        obj = self.objects.get(self._key(kind, namespace, name))
        if obj is None:
            raise KubeNotFound(f"{kind.kind} {name} not found", status=404)
        return copy.deepcopy(obj)

    async def get_or_none(
        self, kind: Kind, *, name: str, namespace: str | None = None
    ) -> Obj | None:
        try:
            return await self.get(kind, name=name, namespace=namespace)
        except KubeNotFound:
            return None

    async def list(
        self, kind: Kind, *, namespace: str | None = None, selector: str | None = None
    ) -> tuple[list[Obj], str]:
        wanted = dict(s.split("=", 1) for s in selector.split(",")) if selector else {}
        items = [
            copy.deepcopy(o)
            for (path, _), o in sorted(self.objects.items())
            if path == kind.path(namespace=namespace)
            and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]
        return items, str(next(self._versions))

    async def create(self, obj: Obj) -> Obj:
        kind = kind_of(obj)
        meta = obj["metadata"]
        key = self._key(kind, meta.get("namespace"), meta["name"])
        if key in self.objects:
            raise KubeConflict(f"{meta['name']} already exists", status=409)
        return self._store(key, obj)

    async def replace(
        self, obj: Obj, *, subresource: str | None = None, answer: list[bytes] | None = None
    ) -> Obj:
        stored = await self._replace(obj, subresource=subresource)
        if answer is not None:
            answer.append(json.dumps(stored).encode())
        return stored

    async def _replace(self, obj: Obj, *, subresource: str | None = None) -> Obj:
        kind = kind_of(obj)
        meta = obj["metadata"]
        key = self._key(kind, meta.get("namespace"), meta["name"])
        current = self.objects.get(key)
        if current is None:
            raise KubeNotFound(f"{meta['name']} not found", status=404)
        expected = meta.get("resourceVersion")
        if expected and expected != current["metadata"]["resourceVersion"]:
            raise KubeConflict(f"{meta['name']}: the object has been modified", status=409)
        new = copy.deepcopy(current)
        if subresource == "status":
            new["status"] = copy.deepcopy(obj.get("status"))
        else:
            new.update({k: copy.deepcopy(v) for k, v in obj.items() if k != "status"})
        return self._store(key, new)

    async def apply(self, obj: Obj, *, dry_run: bool = False, force: bool = True) -> Obj:
        kind = kind_of(obj)
        meta = obj["metadata"]
        key = self._key(kind, meta.get("namespace"), meta["name"])
        merged = {**copy.deepcopy(self.objects.get(key, {})), **copy.deepcopy(obj)}
        return merged if dry_run else self._store(key, merged)

    async def patch(
        self,
        kind: Kind,
        *,
        name: str,
        namespace: str | None = None,
        patch: Obj,
        subresource: str | None = None,
    ) -> Obj:
        """A JSON merge patch (RFC 7386: null removes a key)."""
        key = self._key(kind, namespace, name)
        if key not in self.objects:
            raise KubeNotFound(f"{name} not found", status=404)

        def merge(target: Any, change: Any) -> Any:
            if not isinstance(change, dict):
                return copy.deepcopy(change)
            out = dict(target) if isinstance(target, dict) else {}
            for k, v in change.items():
                if v is None:
                    out.pop(k, None)
                else:
                    out[k] = merge(out.get(k), v)
            return out

        return self._store(key, merge(self.objects[key], patch))

    async def json_patch(
        self,
        kind: Kind,
        *,
        name: str,
        namespace: str | None = None,
        ops: list[Obj],
        subresource: str | None = None,
        answer: list[bytes] | None = None,
    ) -> Obj:
        patched = await self._json_patch(kind, name=name, namespace=namespace, ops=ops)
        if answer is not None:
            answer.append(json.dumps(patched).encode())
        return patched

    async def _json_patch(
        self, kind: Kind, *, name: str, namespace: str | None, ops: list[Obj]
    ) -> Obj:
        key = self._key(kind, namespace, name)
        if key not in self.objects:
            raise KubeNotFound(f"{name} not found", status=404)
        doc = copy.deepcopy(self.objects[key])
        for op in ops:
            *parents, last = op["path"].lstrip("/").split("/")
            target: Any = doc
            for part in parents:
                target = target[int(part)] if isinstance(target, list) else target[part]
            if op["op"] == "test":
                if target.get(last) != op["value"]:
                    raise KubeRejected(f"testing value {op['path']} failed", status=422)
            elif op["op"] == "replace":
                target[last] = op["value"]
            elif op["op"] == "add":
                if isinstance(target, list):
                    target.append(op["value"])
                else:
                    target[last] = op["value"]
            elif op["op"] == "remove":
                del target[int(last) if isinstance(target, list) else last]
        return self._store(key, doc)

    async def delete(
        self,
        kind: Kind,
        *,
        name: str,
        namespace: str | None = None,
        propagation: str = "Foreground",
        grace_seconds: int | None = None,
        missing_ok: bool = True,
    ) -> Obj | None:
        obj = self.objects.pop(self._key(kind, namespace, name), None)
        if obj is None and not missing_ok:
            raise KubeNotFound(f"{name} not found", status=404)
        return obj

    async def request(self, method: str, path: str, *, body: Obj | None = None) -> Obj:
        """DELETE with a resourceVersion precondition (the record store's delete)."""
        assert method == "DELETE", method
        collection, _, name = path.rpartition("/")
        key = (collection, name)
        current = self.objects.get(key)
        if current is None:
            raise KubeNotFound(f"{name} not found", status=404)
        expected = ((body or {}).get("preconditions") or {}).get("resourceVersion")
        if expected and expected != current["metadata"]["resourceVersion"]:
            raise KubeConflict(f"{name}: precondition failed", status=409)
        del self.objects[key]
        return {}
