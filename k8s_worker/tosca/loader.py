"""Reading descriptor YAML within a budget.

``yaml.safe_load`` expands nothing itself (an alias is the same Python object
again), but everything that walks the result does: a 750-byte "billion laughs"
descriptor becomes gigabytes the moment it is copied, serialized or printed.
So before anything is built, the event stream (which PyYAML produces without
recursion and without building anything) is counted: bytes, nesting depth,
aliases, and the nodes the document would have if every alias were expanded.
A document over any budget is refused with a short message; one within it is
then loaded as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


class YamlBudgetExceeded(ValueError):
    """The document is over one of the budgets; the message names which (short)."""


@dataclass(frozen=True)
class YamlBudget:
    """How much YAML one descriptor may be (``[limits]`` sets these)."""

    max_bytes: int = 1 << 20
    max_nodes: int = 200_000  # with every alias expanded
    max_aliases: int = 100
    max_depth: int = 64


def check_budget(text: str | bytes, budget: YamlBudget) -> None:
    """Raise :class:`YamlBudgetExceeded` unless ``text`` is within ``budget``;
    a syntax error is left for the real load to report."""
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > budget.max_bytes:
        raise YamlBudgetExceeded(
            f"the document is {size} bytes, over the limit of {budget.max_bytes}"
        )
    sizes: dict[str, int] = {}  # anchor -> expanded node count of what it names
    stack: list[list[Any]] = []  # [anchor, expanded nodes inside] per open collection
    expanded = aliases = 0

    def count(n: int, *, into_parent: bool = True) -> None:
        nonlocal expanded
        expanded += n
        if into_parent and stack:
            stack[-1][1] += n
        if expanded > budget.max_nodes:
            raise YamlBudgetExceeded(
                f"the document expands to more than {budget.max_nodes} nodes "
                "(counting every alias at its full size)"
            )

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > budget.max_aliases:
                    raise YamlBudgetExceeded(
                        f"the document has more than {budget.max_aliases} aliases"
                    )
                n = sizes.get(event.anchor or "")
                if n is None:
                    raise YamlBudgetExceeded(
                        f"alias *{event.anchor} refers to an undefined or enclosing anchor"
                    )
                count(n)
            elif isinstance(event, yaml.ScalarEvent):
                count(1)
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                count(1, into_parent=False)  # the parent gets the whole at its end
                stack.append([event.anchor, 1])
                if len(stack) > budget.max_depth:
                    raise YamlBudgetExceeded(
                        f"the document nests deeper than {budget.max_depth} levels"
                    )
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                anchor, n = stack.pop()
                if anchor:
                    sizes[anchor] = n
                if stack:
                    stack[-1][1] += n
    except yaml.YAMLError:
        return  # the load reports it, with its position


def load_bounded(text: str | bytes, budget: YamlBudget) -> Any:
    """``yaml.safe_load(text)`` once ``text`` is known to be within ``budget``."""
    check_budget(text, budget)
    return yaml.safe_load(text)


def load_bounded_all(text: str | bytes, budget: YamlBudget) -> list[Any]:
    """Every document of ``text`` (``yaml.safe_load_all``), once the whole
    stream is known to be within ``budget``."""
    check_budget(text, budget)
    return list(yaml.safe_load_all(text))
