"""RabbitMQ plumbing on aio-pika, configured exactly like oslo.messaging's rabbit driver.

``options`` registers oslo.messaging's own options, ``connection`` opens
connections from ``transport_url`` and ``[oslo_messaging_rabbit]``, and
``topology`` names the exchanges and queues an oslo RPC server would declare.
"""
