"""The RPC intake: what an oslo.messaging RPC server does, on aio-pika.

Messages flow envelope -> request -> dispatcher -> pool -> handler; the
consumer decides ack, requeue or reject and the service keeps it connected.
"""
