"""The oslo.messaging wire format, on the ground floor: the message envelope
and its codecs, the request context, and the redaction of secrets from what
goes out.  Used by the intake, the notifier, the tail and the logs alike."""
