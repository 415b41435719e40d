"""Test doubles: an in-memory and a journaling RPC handler, and a dev server
that runs the real intake over them (never shipped in the package)."""
