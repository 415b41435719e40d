"""Recognising a notification the tool has already shown.

Delivery is at least once: a replica that dies after publishing an event but
before recording that it did leaves the event in the VNF record's outbox, and
the next owner publishes it again, with the same ``message_id``.  Operators
want each event once, so the tool remembers the ids of the last events it saw
(a bounded window: a repeat comes seconds after the original, not hours).
"""

from __future__ import annotations

from collections import OrderedDict


class RecentMessages:
    """The last ``size`` message ids; ``repeat(id)`` says whether one was seen."""

    def __init__(self, size: int = 10_000) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.repeats = 0

    def repeat(self, message_id: str | None) -> bool:
        """True when ``message_id`` was seen among the last ones (counted in ``repeats``)."""
        if not message_id:
            return False  # nothing to recognise it by: show it
        if message_id in self._ids:
            self._ids.move_to_end(message_id)
            self.repeats += 1
            return True
        self._ids[message_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return False
