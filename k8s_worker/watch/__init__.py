"""Shared list+watch of the objects the worker manages (informers)."""

from k8s_worker.watch.informer import Informer, WatchEvent

__all__ = ["Informer", "WatchEvent"]
