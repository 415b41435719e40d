"""Kubernetes names and label syntax.

Object names are derived deterministically from the VNF id and the VDU (and
container) names. Tacker truncated names to 15 characters, so two VDUs could
collide; here a name is either the lossless ``<vdu>-<vnf id>`` form or, when that
is impossible (too long, lossy spelling, several parts), a readable prefix plus a
hash of the exact inputs. Nothing is ever plainly truncated.
"""

from __future__ import annotations

import hashlib
import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

LABEL_MAX = 63
SUBDOMAIN_MAX = 253
# Pods of a Deployment are named <deployment>-<replicaset hash>-<pod suffix>;
# keeping the Deployment under 47 characters keeps pod names readable and valid.
DEPLOYMENT_NAME_MAX = 47
_HASH_LEN = 10  # differs from a UUID's last group (12), so hashed names never equal lossless ones


def is_dns1123_label(name: str) -> bool:
    return len(name) <= LABEL_MAX and bool(DNS1123_LABEL.match(name))


def is_dns1123_subdomain(name: str) -> bool:
    return len(name) <= SUBDOMAIN_MAX and bool(DNS1123_SUBDOMAIN.match(name))


def is_label_value(value: str) -> bool:
    return len(value) <= LABEL_MAX and bool(LABEL_VALUE.match(value))


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key (``[prefix/]name``), or ``None``."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return "the prefix before '/' is empty"
    if prefix and not is_dns1123_subdomain(prefix):
        return f"prefix {prefix!r} is not a DNS-1123 subdomain"
    if len(name) > LABEL_MAX or not LABEL_NAME.match(name):
        return (
            f"name {name!r} must be 1-63 characters of letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def slug(text: str) -> str:
    """The closest DNS-1123 label spelling of ``text`` (may be empty)."""
    lowered = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    return re.sub(r"-{2,}", "-", lowered).strip("-")


def _digest(*parts: str) -> str:
    joined = "\x00".join(parts).encode("utf-8")
    return hashlib.sha256(joined).hexdigest()[:_HASH_LEN]


def object_name(*, vnf_id: str, parts: tuple[str, ...], max_len: int = LABEL_MAX) -> str:
    """A unique, deterministic DNS-1035 label for an object of ``vnf_id``.

    ``parts`` are the exact names inside the VNF (``(vdu,)`` or ``(vdu, container)``).
    With a single part that is already a lowercase DNS label and a canonical UUID
    as VNF id, the name is ``<part>-<vnf id>`` if it fits ``max_len``; otherwise
    it is ``<readable prefix>-<10 hex digits of sha256(vnf id, parts)>``.
    """
    if len(parts) == 1 and CANONICAL_UUID.match(vnf_id) and DNS1035_LABEL.match(parts[0]):
        lossless = f"{parts[0]}-{vnf_id}"
        if len(lossless) <= max_len:
            return lossless
    prefix = "-".join(filter(None, (slug(p) for p in parts))) or "vdu"
    if not prefix[0].isalpha():
        prefix = f"v{prefix}"
    room = max_len - _HASH_LEN - 1
    prefix = prefix[:room].rstrip("-")
    return f"{prefix}-{_digest(vnf_id, *parts)}"


def container_name(name: str) -> str:
    """The container name for a vnfcs key (its DNS-label spelling, may be empty)."""
    return slug(name)[:LABEL_MAX].rstrip("-")
