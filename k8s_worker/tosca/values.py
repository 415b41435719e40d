"""Parsing of the descriptor's string-encoded values into Kubernetes terms.

Tacker's VNFD encodes ports as "published:target", labels as "key: value",
sizes as TOSCA scalar-units ("512 MB") and container config as a YAML text. Each
parser here returns the Kubernetes value or raises :class:`ValueError` whose text
says what was expected; callers turn that into a located :class:`Problem`.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import yaml

PROTOCOLS = ("TCP", "UDP", "SCTP")

# TOSCA scalar-unit.size units (case-insensitive) -> Kubernetes quantity suffixes.
_SIZE_UNITS: dict[str, tuple[str, int]] = {
    "b": ("", 1),
    "kb": ("k", 10**3),
    "kib": ("Ki", 2**10),
    "mb": ("M", 10**6),
    "mib": ("Mi", 2**20),
    "gb": ("G", 10**9),
    "gib": ("Gi", 2**30),
    "tb": ("T", 10**12),
    "tib": ("Ti", 2**40),
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")
_PORT_MAPPING = re.compile(r"^\s*(\d+)\s*(?::\s*(\d+)\s*)?(?:/\s*([A-Za-z]+)\s*)?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


@dataclass(frozen=True)
class PortMapping:
    """A Service port: ``published`` on the Service, ``target`` on the pods."""

    published: int
    target: int
    protocol: str = "TCP"


def memory_quantity(text: object) -> str:
    """``"512 MB"`` -> ``"512M"``, ``"1.5 GiB"`` -> ``"1536Mi"``-equivalent bytes."""
    if not isinstance(text, str):
        raise ValueError(f"expected a size such as '512 MB', got {text!r}")
    match = _SIZE.match(text)
    unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(
            f"expected a size such as '512 MB' (units B, kB, KiB, MB, MiB, GB, GiB, TB, TiB), "
            f"got {text!r}"
        )
    number = Decimal(match.group(1))
    suffix, factor = unit
    if number <= 0:
        raise ValueError(f"size must be greater than zero, got {text!r}")
    if number == number.to_integral_value():
        return f"{int(number)}{suffix}"
    total = number * factor
    if total != total.to_integral_value():
        raise ValueError(f"size {text!r} is not a whole number of bytes")
    return str(int(total))


def cpu_quantity(value: object) -> str:
    """A number of CPUs (0.5, 2) -> a Kubernetes CPU quantity ("500m", "2")."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number of CPUs such as 0.5, got {value!r}")
    try:
        cpus = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"expected a number of CPUs such as 0.5, got {value!r}") from None
    millis = cpus * 1000
    if not cpus.is_finite() or millis < 1:
        raise ValueError(f"number of CPUs must be at least 0.001, got {value!r}")
    if millis != millis.to_integral_value():
        raise ValueError(f"number of CPUs must be a multiple of 0.001, got {value!r}")
    if cpus == cpus.to_integral_value():
        return str(int(cpus))
    return f"{int(millis)}m"


def _port_number(text: str, original: object) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} in {original!r} is outside 1-65535")
    return port


def _protocol(text: str | None, original: object) -> str:
    if text is None:
        return "TCP"
    if text.upper() not in PROTOCOLS:
        raise ValueError(f"protocol in {original!r} must be one of {', '.join(PROTOCOLS)}")
    return text.upper()


def port_mapping(text: object) -> PortMapping:
    """``"80:8080"`` (published:target), ``"80"`` or ``"53:53/UDP"`` -> PortMapping."""
    match = _PORT_MAPPING.match(str(text)) if isinstance(text, str | int) else None
    if isinstance(text, bool) or match is None:
        raise ValueError(
            f"expected 'published:target' port numbers such as '80:8080' "
            f"(optionally '/UDP' or '/SCTP'), got {text!r}"
        )
    published = _port_number(match.group(1), text)
    target = _port_number(match.group(2), text) if match.group(2) else published
    return PortMapping(published=published, target=target, protocol=_protocol(match.group(3), text))


def container_port(text: object) -> tuple[int, str]:
    """A container port ``"80"`` or ``"53/UDP"`` -> (number, protocol)."""
    mapping = port_mapping(text)
    if mapping.published != mapping.target:
        raise ValueError(f"expected a single container port such as '80', got {text!r}")
    return mapping.target, mapping.protocol


def label_pair(text: object) -> tuple[str, str]:
    """``"app: webserver"`` (or ``"app=webserver"``) -> ("app", "webserver")."""
    if not isinstance(text, str):
        raise ValueError(f"expected 'key: value', got {text!r}")
    sep = ":" if ":" in text else "="
    key, found, value = text.partition(sep)
    if not found or not key.strip():
        raise ValueError(f"expected 'key: value', got {text!r}")
    return key.strip(), value.strip()


def config_entries(text: object) -> tuple[tuple[str, str], ...]:
    """A container's config (a YAML mapping text) -> ConfigMap ``data`` entries.

    Scalars keep their exact spelling (``yes`` stays ``yes``, ``0123`` stays
    ``0123``, ``http://a:80/x`` keeps its colons); nested values keep their YAML
    source text. Keys must be usable as environment variable names.
    """
    if isinstance(text, dict):  # already structured (e.g. SOL001 or a params merge)
        source = yaml.safe_dump(text, default_flow_style=False, sort_keys=False)
    elif isinstance(text, str):
        source = text
    else:
        raise ValueError(f"expected a YAML mapping of 'key: value' lines, got {text!r}")
    try:
        root = yaml.compose(source, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        return _config_lines(source, exc)
    if root is None:
        return ()
    if not isinstance(root, yaml.MappingNode):
        raise ValueError("expected a YAML mapping of 'key: value' lines")
    entries: dict[str, str] = {}
    for key_node, value_node in root.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ValueError("config keys must be plain strings")
        key = _config_key(key_node.value, entries)
        if isinstance(value_node, yaml.ScalarNode):
            entries[key] = value_node.value
        else:
            raw = source[value_node.start_mark.index : value_node.end_mark.index]
            entries[key] = textwrap.dedent(" " * value_node.start_mark.column + raw).strip("\n")
    return tuple(entries.items())


def _config_key(key: str, seen: dict[str, str]) -> str:
    if not _ENV_NAME.match(key) or len(key) > 253:
        raise ValueError(
            f"config key {key!r} must consist of letters, digits, '-', '_' or '.' "
            "and not start with a digit"
        )
    if key in seen:
        raise ValueError(f"config key {key!r} is given twice")
    return key


def _config_lines(source: str, error: yaml.YAMLError) -> tuple[tuple[str, str], ...]:
    """Tacker's plain ``key: value`` lines that are not valid YAML (``a: b: c``).

    Each line splits at its first colon only; the value is kept verbatim.
    """
    entries: dict[str, str] = {}
    for number, line in enumerate(source.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, found, value = line.partition(":")
        if not found or line[:1].isspace():
            reason = str(error).replace("\n", " ")
            raise ValueError(
                f"config line {number} {line!r} is not 'key: value' "
                f"(and the text is not a YAML mapping: {reason})"
            )
        entries[_config_key(key.strip(), entries)] = value.strip()
    return tuple(entries.items())
