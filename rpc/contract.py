"""The RPC contract in code: topic, versions, methods and argument validation.

Both sides use it: the conductor-side client validates before sending and the
worker's intake validates what it receives, so a bad field is reported with
the same precise message (``<method>: <field path>: <problem>``) wherever it
is caught.  Values are never echoed in messages: they may carry secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rpc.exceptions import InvalidArguments

TOPIC = "k8s_worker"
#: The control exchange (``[DEFAULT] control_exchange``): Tacker's own default.
EXCHANGE = "tacker"
#: The Target version clients send (the lowest version that has every method).
TARGET_VERSION = "1.0"
#: The highest 1.x version this code serves (1.N): it accepts any 1.M, M <= N.
SERVED_VERSION = "1.3"
#: From this version on a caller handles FAILED_TEMP (retry, rollback, fail
#: operation): its operations park on a failure retrying could fix.
FAILED_TEMP_VERSION = "1.2"
#: From this version on instantiate_vnf and update_vnf take a CNF package.
PACKAGE_VERSION = "1.3"
NAMESPACE: str | None = None
PING_METHOD = "oslo_rpc_server_ping"

Kind = Literal["cast", "call"]
Check = Callable[[str, Any], Any]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


#: Longest identifier or name (ids, op_ids, names, policies, triggers).
NAME_MAX = 255
#: Longest free text (a heal's cause).
TEXT_MAX = 1024
#: Largest parameters, config and alarm details objects (their JSON, in bytes).
PARAMS_MAX_BYTES = 64 * 1024
CONFIG_MAX_BYTES = 256 * 1024
DETAILS_MAX_BYTES = 8 * 1024
#: Most VDU names in one heal; most scale steps in one scale.
LIST_MAX = 100
STEPS_MAX = 1000
GRACEFUL_TIMEOUT_MAX = 86400
VNFD_MAX_CHARS = 16 * 1024 * 1024
#: A package as sent (base64 of a zip is 4/3 of it); the worker's [limits] decide.
PACKAGE_MAX_CHARS = 64 * 1024 * 1024
ADDITIONAL_PARAMS_MAX_BYTES = 256 * 1024


def nonempty_str(path: str, value: Any, *, max_len: int = NAME_MAX) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {_type_name(value)}")
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > max_len:
        raise ValueError(f"must be at most {max_len} characters, got {len(value)}")
    return value


def text(path: str, value: Any) -> str:
    return nonempty_str(path, value, max_len=TEXT_MAX)


def bounded_mapping(max_bytes: int) -> Check:
    """An object whose JSON is at most ``max_bytes``."""

    def check(path: str, value: Any) -> dict[str, Any]:
        mapping(path, value)
        try:
            size = len(json.dumps(value, separators=(",", ":"), default=str))
        except (TypeError, ValueError, RecursionError):
            raise ValueError("must be a JSON object") from None
        if size > max_bytes:
            raise ValueError(f"must be at most {max_bytes} bytes of JSON, got {size}")
        return value

    return check


def dns_label(path: str, value: Any) -> str:
    nonempty_str(path, value)
    if not _DNS_LABEL.match(value):
        raise ValueError("must be a DNS-1123 label (lower-case alphanumerics and '-', <= 63)")
    return value


def mapping(path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"must be an object, got {_type_name(value)}")
    return value


def vnfd(path: str, value: Any) -> str | dict[str, Any]:
    if isinstance(value, dict):
        if not value:
            raise ValueError("must not be empty")
        return value
    if isinstance(value, str):
        # The worker's [limits] max_vnfd_bytes is the real bound; this one only
        # keeps a client from sending what no worker would take.
        return nonempty_str(path, value, max_len=VNFD_MAX_CHARS)
    raise ValueError(f"must be TOSCA YAML text or an object, got {_type_name(value)}")


def package(path: str, value: Any) -> str | dict[str, Any]:
    """A CNF package: a base64 CSAR zip, or a mapping of artifact path -> text."""
    if isinstance(value, dict):
        if not value:
            raise ValueError("must not be empty")
        return value
    if isinstance(value, str):
        return nonempty_str(path, value, max_len=PACKAGE_MAX_CHARS)
    raise ValueError(f"must be a base64 CSAR zip or an object, got {_type_name(value)}")


def str_list(path: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"must be a list of strings, got {_type_name(value)}")
    if len(value) > LIST_MAX:
        raise ValueError(f"must have at most {LIST_MAX} items, got {len(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise ValueError(f"item {index} must be a non-empty string")
        if len(item) > NAME_MAX:
            raise ValueError(f"item {index} must be at most {NAME_MAX} characters")
    return value


def int_range(*, minimum: int, maximum: int | None = None) -> Check:
    def check(path: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {_type_name(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise ValueError(f"must be {bound}")
        return value

    return check


def boolean(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be a boolean, got {_type_name(value)}")
    return value


def choice(*values: str) -> Check:
    def check(path: str, value: Any) -> str:
        if value not in values:
            raise ValueError("must be one of " + ", ".join(repr(v) for v in values))
        return value

    return check


@dataclass(frozen=True)
class Field:
    """One argument (or one key of an object argument) and its check."""

    name: str
    check: Check
    required: bool = True
    default: Any = None
    #: Allow an explicit null for an optional field (treated as the default).
    nullable: bool = True
    #: The contract version that added this argument (a request using it needs it).
    since: str = "1.0"


def obj(*fields: Field) -> Check:
    def check(path: str, value: Any) -> dict[str, Any]:
        mapping(path, value)
        return _validate_fields(f"{path}.", fields, value, allow_extra=True)

    return check


def _validate_fields(
    prefix: str, fields: tuple[Field, ...], values: Mapping[str, Any], *, allow_extra: bool
) -> dict[str, Any]:
    out: dict[str, Any] = dict(values) if allow_extra else {}
    known = {f.name for f in fields}
    if not allow_extra:
        for name in values:
            if name not in known:
                raise InvalidArguments(
                    f"{prefix}{name}: unexpected argument", field=f"{prefix}{name}"
                )
    for f in fields:
        path = f"{prefix}{f.name}"
        value = values.get(f.name, MISSING)
        if value is MISSING or (value is None and not f.required and f.nullable):
            if f.required:
                raise InvalidArguments(f"{path}: is required", field=path)
            out[f.name] = f.default
            continue
        try:
            out[f.name] = f.check(path, value)
        except InvalidArguments:
            raise
        except ValueError as exc:
            raise InvalidArguments(f"{path}: {exc}", field=path) from None
    return out


@dataclass(frozen=True)
class MethodSpec:
    """An RPC method: its kind, the version that introduced it and its arguments."""

    name: str
    kind: Kind
    fields: tuple[Field, ...] = ()
    since: str = "1.0"
    #: The argument naming the VNF (a dotted path), the key of per-VNF ordering.
    vnf_key: str | None = "vnf_id"
    #: A check across arguments (after each one's own): InvalidArguments.
    together: Callable[[dict[str, Any]], None] | None = None

    def validate(self, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """The arguments with defaults filled in, or InvalidArguments naming the field."""
        if args is None:
            args = {}
        if not isinstance(args, Mapping):
            raise InvalidArguments(f"{self.name}: args: must be an object", field="args")
        try:
            out = _validate_fields("", self.fields, args, allow_extra=False)
            if self.together is not None:
                self.together(out)
            return out
        except InvalidArguments as exc:
            field = exc.kwargs.get("field", "")
            raise InvalidArguments(f"{self.name}: {exc.message}", field=field) from None

    def version_for(self, args: Mapping[str, Any]) -> str:
        """The lowest version that has the method and every argument in ``args``."""
        versions = [self.since] + [f.since for f in self.fields if args.get(f.name) is not None]
        return max(versions, key=parse_version)

    def vnf_id(self, args: Mapping[str, Any]) -> str | None:
        """The VNF this request is about (None for fleet-wide requests)."""
        if self.vnf_key is None:
            return None
        value: Any = args
        for part in self.vnf_key.split("."):
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value if isinstance(value, str) else None


_VNF_ID = Field("vnf_id", nonempty_str)
_VIM_ID = Field("vim_id", nonempty_str)
#: Largest vim_connection_info (its JSON: a CA, a token or a client key and cert).
VIM_INFO_MAX_BYTES = 64 * 1024
PEM_MAX = 32 * 1024


def pem(path: str, value: Any) -> str:
    return nonempty_str(path, value, max_len=PEM_MAX)


def namespaces_grant(path: str, value: Any) -> Any:
    """A list of namespaces (granted to the registering tenant) or a map
    tenant -> list."""
    if isinstance(value, list):
        return str_list(path, value)
    if isinstance(value, dict):
        if len(value) > LIST_MAX:
            raise ValueError(f"must have at most {LIST_MAX} tenants")
        for tenant, names in value.items():
            try:
                str_list(path, names)
            except ValueError as exc:
                raise ValueError(f"{tenant}: {exc}") from None
        return value
    raise ValueError(f"must be a list or an object, got {_type_name(value)}")


_VIM_FIELDS = (
    Field("name", nonempty_str, required=False),
    Field("ssl_ca_cert", pem, required=False),
    Field("bearer_token", pem, required=False),
    Field("client_cert", pem, required=False),
    Field("client_key", pem, required=False),
    Field("username", nonempty_str, required=False),
    Field("password", nonempty_str, required=False),
    Field("namespaces", namespaces_grant, required=False),
    Field("default_namespace", dns_label, required=False),
)
_OP_ID = Field("op_id", nonempty_str)


def _vnfd_or_package(args: dict[str, Any]) -> None:
    if args.get("package") is None and (args.get("vnf") or {}).get("vnfd") is None:
        raise InvalidArguments("vnf.vnfd: is required (or send a package)", field="vnf.vnfd")


#: Tacker v2's package fields of an InstantiateVnfRequest (and of an update).
_PACKAGE_FIELDS = (
    Field("package", package, required=False, since=PACKAGE_VERSION),
    Field("flavour_id", nonempty_str, required=False, since=PACKAGE_VERSION),
    Field("instantiation_level_id", nonempty_str, required=False, since=PACKAGE_VERSION),
    Field(
        "additional_params",
        bounded_mapping(ADDITIONAL_PARAMS_MAX_BYTES),
        required=False,
        since=PACKAGE_VERSION,
    ),
)

METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec(
            "instantiate_vnf",
            "cast",
            (
                Field(
                    "vnf",
                    obj(
                        Field("id", nonempty_str),
                        Field("name", nonempty_str),
                        Field("tenant_id", nonempty_str),
                        # Required unless a package is sent (the worker says so).
                        Field("vnfd", vnfd, required=False),
                        Field("namespace", dns_label, required=False),
                        Field("params", bounded_mapping(PARAMS_MAX_BYTES), required=False),
                    ),
                ),
                _OP_ID,
                Field("vim_id", nonempty_str, required=False, since="1.1"),
                Field(
                    "vim_connection_info",
                    bounded_mapping(VIM_INFO_MAX_BYTES),
                    required=False,
                    since="1.1",
                ),
                *_PACKAGE_FIELDS,
            ),
            vnf_key="vnf.id",
            together=_vnfd_or_package,
        ),
        MethodSpec(
            "terminate_vnf",
            "cast",
            (
                _VNF_ID,
                _OP_ID,
                Field(
                    "graceful_timeout",
                    int_range(minimum=0, maximum=GRACEFUL_TIMEOUT_MAX),
                    required=False,
                ),
            ),
        ),
        MethodSpec(
            "scale_vnf",
            "cast",
            (
                _VNF_ID,
                _OP_ID,
                Field("policy", nonempty_str),
                Field("type", choice("out", "in")),
                Field("steps", int_range(minimum=1, maximum=STEPS_MAX), required=False, default=1),
            ),
        ),
        MethodSpec(
            "heal_vnf",
            "cast",
            (
                _VNF_ID,
                _OP_ID,
                Field("vdus", str_list, required=False),
                Field("cause", text, required=False),
                Field("vnfc_ids", str_list, required=False, since="1.2"),
                Field("all", boolean, required=False, since="1.2"),
            ),
        ),
        MethodSpec(
            "update_vnf",
            "cast",
            (
                _VNF_ID,
                _OP_ID,
                Field("vnfd", vnfd, required=False),
                Field("config", bounded_mapping(CONFIG_MAX_BYTES), required=False),
                *_PACKAGE_FIELDS,
            ),
        ),
        *(
            MethodSpec(
                name,
                "cast",
                (_VNF_ID, _OP_ID, Field("target_op_id", nonempty_str)),
                since="1.2",
            )
            for name in ("retry_operation", "rollback_operation", "fail_operation")
        ),
        MethodSpec(
            "alarm",
            "cast",
            (
                _VNF_ID,
                Field("policy", nonempty_str),
                Field("trigger", nonempty_str),
                Field("state", choice("firing", "resolved")),
                Field("details", bounded_mapping(DETAILS_MAX_BYTES), required=False),
            ),
        ),
        MethodSpec("get_vnf", "call", (_VNF_ID,)),
        MethodSpec(
            "list_vnfs",
            "call",
            (Field("tenant_id", nonempty_str, required=False),),
            vnf_key=None,
        ),
        MethodSpec(
            "register_vim",
            "call",
            (
                _VIM_ID,
                Field("tenant_id", nonempty_str, required=False),
                Field("auth_url", nonempty_str),
                Field("shared", boolean, required=False, default=False),
                Field("insecure", boolean, required=False, default=False),
                *_VIM_FIELDS,
            ),
            since="1.1",
            vnf_key=None,
        ),
        MethodSpec("update_vim", "call", (_VIM_ID, *_VIM_FIELDS), since="1.1", vnf_key=None),
        MethodSpec("deregister_vim", "call", (_VIM_ID,), since="1.1", vnf_key=None),
        MethodSpec("get_vim", "call", (_VIM_ID,), since="1.1", vnf_key=None),
        MethodSpec("list_vims", "call", (), since="1.1", vnf_key=None),
        MethodSpec(PING_METHOD, "call", (), vnf_key=None),
    )
}

#: Lifecycle operations (casts with an op_id) -> the <op> of vnf.<op>.* events.
OPERATIONS: dict[str, str] = {
    "instantiate_vnf": "instantiate",
    "terminate_vnf": "terminate",
    "scale_vnf": "scale",
    "heal_vnf": "heal",
    "update_vnf": "update",
    "alarm": "alarm",
    "retry_operation": "retry",
    "rollback_operation": "rollback",
    "fail_operation": "fail",
}


def parse_version(version: str) -> tuple[int, int]:
    """'1.3' -> (1, 3); ValueError when it is not MAJOR.MINOR."""
    major, _, minor = str(version).partition(".")
    return int(major), int(minor or 0)


def version_is_compatible(served: str, requested: str) -> bool:
    """oslo.messaging's rule: same major, requested minor <= served minor."""
    try:
        s_major, s_minor = parse_version(served)
        r_major, r_minor = parse_version(requested)
    except ValueError:
        return False
    return s_major == r_major and r_minor <= s_minor


def error_event_type(method: str | None) -> str:
    """The event_type reporting a rejected request for ``method``."""
    op = OPERATIONS.get(method or "")
    return f"vnf.{op}.error" if op else "vnf.request.error"
