"""What the policies remember between passes, kept in the VNF record's
``status.policy`` and read and written only through :class:`PolicyMemory`.

It is a typed view over that part of the status, not a copy: keys this
version does not know are left as they are, so a replica of one version never
erases what a newer one wrote during a rolling upgrade.
"""

from __future__ import annotations

from typing import Any

from k8s_worker.record import VnfRecord

#: Respawn times remembered at most (restart-storm triggers look back a window).
RESPAWNS_KEPT = 500
#: Alerts (fingerprint, start, status) remembered to drop repeats.
ALERTS_KEPT = 200
#: CPU samples kept per policy (one per metrics interval within the window).
CPU_SAMPLES_KEPT = 120


class PolicyMemory:
    """The record's policy memory: pending alarms, respawn times, cooldown
    stamps (and the replica that wrote each), trigger states, heal attempts
    and the counter of automatic operations."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    @classmethod
    def of(cls, rec: VnfRecord) -> PolicyMemory:
        return cls(rec.policy_state)

    # -- alarms ----------------------------------------------------------------------
    @property
    def alarms(self) -> list[dict[str, Any]]:
        """Alarms waiting to be acted on (the list itself: edit it in place)."""
        alarms = self._raw.get("alarms")
        if not isinstance(alarms, list):  # absent, or a null written by hand
            alarms = self._raw["alarms"] = []
        return alarms

    @alarms.setter
    def alarms(self, alarms: list[dict[str, Any]]) -> None:
        self._raw["alarms"] = alarms

    def seen_alert(self, key: str) -> bool:
        """Whether the alert ``key`` (fingerprint:startsAt:status) was taken
        before; remembers it otherwise (the last ALERTS_KEPT)."""
        seen = self._raw.get("alerts")
        if not isinstance(seen, list):
            seen = self._raw["alerts"] = []
        if key in seen:
            return True
        seen.append(key)
        del seen[:-ALERTS_KEPT]
        return False

    # -- respawns --------------------------------------------------------------------
    def respawns(self) -> list[float]:
        return [float(t) for t in self._raw.get("respawns", [])]

    def note_respawn(self, *, now: float, keep_seconds: float) -> None:
        times = [t for t in self.respawns() if now - t < keep_seconds]
        times.append(now)
        self._raw["respawns"] = times[-RESPAWNS_KEPT:]

    # -- cooldowns -------------------------------------------------------------------
    def last_scale(self, policy: str) -> tuple[float | None, str | None]:
        """When ``policy`` last scaled (wall clock), and which replica stamped it."""
        at = (self._raw.get("lastScale") or {}).get(policy)
        by = (self._raw.get("lastScaleBy") or {}).get(policy)
        return (None if at is None else float(at)), by

    def stamp_cooldown(self, policy: str, *, at: float, host: str) -> None:
        self._raw.setdefault("lastScale", {})[policy] = at
        self._raw.setdefault("lastScaleBy", {})[policy] = host

    # -- CPU policies ------------------------------------------------------------
    def cpu_samples(self, policy: str) -> list[tuple[float, float]]:
        """The (time, usage/target ratio) samples of ``policy`` kept for its
        scale-in stabilization window."""
        raw = ((self._raw.get("cpu") or {}).get(policy) or {}).get("samples") or []
        return [(float(t), float(r)) for t, r in raw]

    def cpu_since(self, policy: str) -> float | None:
        """Since when ``policy``'s CPU has been measured without a gap."""
        since = ((self._raw.get("cpu") or {}).get(policy) or {}).get("since")
        return None if since is None else float(since)

    def note_cpu_sample(self, policy: str, *, at: float, ratio: float, keep_seconds: float) -> None:
        kept = [(t, r) for t, r in self.cpu_samples(policy) if at - t <= keep_seconds]
        entry = self._raw.setdefault("cpu", {}).setdefault(policy, {})
        entry.setdefault("since", at)
        entry["samples"] = [[t, r] for t, r in [*kept, (at, round(ratio, 4))][-CPU_SAMPLES_KEPT:]]

    def forget_cpu_samples(self, policy: str) -> None:
        """Measuring stopped (metrics missing): the window starts again."""
        entry = (self._raw.get("cpu") or {}).get(policy) or {}
        entry.pop("samples", None)
        entry.pop("since", None)

    def cpu_reported(self, policy: str) -> str | None:
        """What was last reported about ``policy``'s CPU (reported once each)."""
        return ((self._raw.get("cpu") or {}).get(policy) or {}).get("reported")

    def note_cpu_reported(self, policy: str, signature: str | None) -> None:
        entry = self._raw.setdefault("cpu", {}).setdefault(policy, {})
        if signature is None:
            entry.pop("reported", None)
        else:
            entry["reported"] = signature

    # -- triggers and heals ------------------------------------------------------------
    @property
    def triggers(self) -> dict[str, Any]:
        """Observed triggers' states by trigger (edit in place)."""
        return self._raw.setdefault("triggers", {})

    @property
    def heals(self) -> dict[str, Any]:
        """Heal policies' attempts by policy, VDU and trigger (edit in place)."""
        return self._raw.setdefault("heal", {})

    def forget_heals(self) -> None:
        """A manual heal clears the heal policies that had given up."""
        self._raw.pop("heal", None)

    def tidy(self) -> None:
        """Leave out the heal attempts when there are none (read, the map is made
        empty): the stored record then does not depend on which pass last
        looked at them before a write."""
        if not self._raw.get("heal"):
            self._raw.pop("heal", None)

    # -- automatic operations ------------------------------------------------------------
    def next_operation_number(self) -> int:
        n = int(self._raw.get("opCounter", 0)) + 1
        self._raw["opCounter"] = n
        return n
