"""Kubernetes resource quantities as numbers (the cpu ones the policies and
the metrics API use)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_SUFFIXES = {"n": Decimal("1e-6"), "u": Decimal("1e-3"), "m": Decimal(1), "": Decimal(1000)}


def cpu_millis(quantity: object) -> float | None:
    """A cpu quantity ("250m", "0.5", 2, "1500000n") in millicores; None if not one."""
    text = str(quantity).strip()
    unit = text[-1] if text and text[-1] in "num" else ""
    try:
        value = Decimal(text[: len(text) - len(unit)] if unit else text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    return float(value * _SUFFIXES[unit])
