"""Benchmarks of tacker-k8s-worker (``python -m tools.bench <mode>``)."""
