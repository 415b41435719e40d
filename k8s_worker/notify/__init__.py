"""oslo.messaging ``messagingv2`` notifications, published with aio-pika."""
