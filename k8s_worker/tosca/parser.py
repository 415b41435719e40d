"""Running tosca-parser on Tacker's containerized VNFD, offline and safely.

tosca-parser collects its errors in a process-global ``ExceptionCollector``, so
calls are serialized with a lock. The project's type definitions
(``types/tacker_k8s_types.yaml``) are injected into ``imports`` by absolute path;
references to Tacker's ``tacker_defs.yaml``/``tacker_nfv_defs.yaml`` are replaced
by it, and any other import is refused, so parsing never touches the network.
Rejections come back as :class:`VnfdError` carrying tosca-parser's messages.
"""

from __future__ import annotations

import copy
import re
import threading
from pathlib import Path
from typing import Any

from toscaparser.common.exception import ExceptionCollector, ValidationError
from toscaparser.functions import Function, get_function, is_function
from toscaparser.tosca_template import ToscaTemplate

from k8s_worker.tosca.errors import Problem, VnfdError

TYPES_FILE = Path(__file__).resolve().parent / "types" / "tacker_k8s_types.yaml"
TACKER_IMPORTS = frozenset({"tacker_defs.yaml", "tacker_nfv_defs.yaml"})

# Reentrant: callers that evaluate functions after parsing hold it across both.
TOSCA_LOCK = threading.RLock()
_FIELD_IN_MESSAGE = re.compile(r'(?:unknown|required) field "\[?\'?([^"\'\]]+)')
_NODE_IN_MESSAGE = re.compile(r'(?:template|[Tt]riggers|[Pp]olicy|node|Policy template) "([^"]+)"')


def _imports_with_local_types(tpl: dict[str, Any]) -> list[Any] | VnfdError:
    imports = tpl.get("imports") or []
    if not isinstance(imports, list):
        return VnfdError([Problem(None, "imports", "expected a list of type definition files")])
    problems = []
    for entry in imports:
        target = next(iter(entry.values()), None) if isinstance(entry, dict) else entry
        if isinstance(target, dict):
            target = target.get("file")
        if not isinstance(target, str) or Path(target).name not in TACKER_IMPORTS:
            problems.append(
                Problem(
                    None,
                    "imports",
                    f"cannot import {target!r}: only Tacker's tacker_defs.yaml and "
                    "tacker_nfv_defs.yaml are known (their types are built in)",
                )
            )
    if problems:
        return VnfdError(problems)
    return [str(TYPES_FILE)]


def _problem_from(exc: BaseException) -> Problem:
    message = str(exc).strip() or exc.__class__.__name__
    match = _NODE_IN_MESSAGE.search(message)
    field = _FIELD_IN_MESSAGE.search(message)
    return Problem(
        node=match.group(1) if match else None,
        property=field.group(1) if field else None,
        message=message,
    )


def parse_tacker_vnfd(tpl: dict[str, Any], *, params: dict[str, Any] | None) -> ToscaTemplate:
    """Validate ``tpl`` with tosca-parser against the project's types.

    Returns the :class:`ToscaTemplate`; raises :class:`VnfdError` with
    tosca-parser's own messages (one problem per message) if it rejects the
    descriptor. ``params`` are the values of the descriptor's inputs.
    """
    prepared = copy.deepcopy(tpl)
    imports = _imports_with_local_types(prepared)
    if isinstance(imports, VnfdError):
        raise imports
    prepared["imports"] = imports
    with TOSCA_LOCK:
        try:
            return ToscaTemplate(
                parsed_params=dict(params or {}), a_file=False, yaml_dict_tpl=prepared
            )
        except ValidationError:
            caught = list(ExceptionCollector.getExceptions()) or []
            raise VnfdError([_problem_from(e) for e in caught]) from None
        except Exception as exc:  # tosca-parser raises bare errors on malformed input
            raise VnfdError([_problem_from(exc)]) from None
        finally:
            ExceptionCollector.stop()
            ExceptionCollector.clear()


def resolved(value: Any, *, tosca: ToscaTemplate | None = None, node: Any = None) -> Any:
    """``value`` with intrinsic functions (get_input, ...) evaluated, at any depth.

    tosca-parser turns only top-level property values into functions; with
    ``tosca`` given, nested ``{get_input: ...}`` maps are evaluated too. Call it
    while holding :data:`TOSCA_LOCK` (tosca-parser reports through global state).
    """
    if tosca is not None and isinstance(value, dict) and is_function(value):
        try:
            value = get_function(tosca.topology_template, node, value)
        except Exception as exc:  # e.g. UnknownInputError raised outside collection
            name = getattr(node, "name", None)
            raise VnfdError([Problem(node=name, property=None, message=str(exc))]) from None
    if isinstance(value, Function):
        return resolved(value.result(), tosca=tosca, node=node)
    if isinstance(value, dict):
        return {k: resolved(v, tosca=tosca, node=node) for k, v in value.items()}
    if isinstance(value, list):
        return [resolved(v, tosca=tosca, node=node) for v in value]
    return value
