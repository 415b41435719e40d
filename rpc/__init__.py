"""The RPC contract of tacker-k8s-worker and the conductor-side client.

Tacker's conductor imports this package; it depends on oslo.messaging only.
"""
