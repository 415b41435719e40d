"""Errors of VNFD translation.

Every check of a descriptor reports a :class:`Problem` naming the node (or policy),
the property and what was expected, and translation raises one :class:`VnfdError`
carrying all of them, so the conductor's user sees every mistake at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One defect of a descriptor.

    ``node`` is the node template or policy name (``None`` for template-wide
    problems), ``property`` the property path inside it (``None`` if the node as
    a whole is wrong), ``message`` says what was found and what was expected.
    """

    node: str | None
    property: str | None
    message: str

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                f"node {self.node!r}" if self.node is not None else "",
                f"property {self.property!r}" if self.property is not None else "",
            )
            if part
        )
        return f"{where}: {self.message}" if where else self.message


class VnfdError(Exception):
    """The descriptor cannot be translated; ``problems`` lists every defect found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self))

    def __reduce__(self) -> tuple[type[VnfdError], tuple[list[Problem]]]:
        # Rebuilt from its problems (it crosses from the translation process).
        return (VnfdError, (self.problems,))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"invalid VNFD ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


class ProblemCollector:
    """Accumulates problems during a translation pass and raises them together."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, node: str | None, prop: str | None, message: str) -> None:
        self.problems.append(Problem(node=node, property=prop, message=message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise VnfdError(self.problems)
