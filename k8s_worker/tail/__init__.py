"""``k8s-worker-tail``: follow the worker's notification stream from a console.

``event`` turns an AMQP body into an event (or says why it is malformed),
``filters`` decides what to show, ``formatting`` renders terminal lines or JSON
lines, and ``consumer`` binds a queue to the notification routing keys.
"""
