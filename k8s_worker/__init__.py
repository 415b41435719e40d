"""tacker-k8s-worker: the Kubernetes side of OpenStack Tacker.

Tacker's conductor casts VNF lifecycle requests over RabbitMQ; replicas of this
worker execute them against Kubernetes, report what Kubernetes does as
oslo.messaging notifications and run each VNF's scale and heal policies.
"""
