"""Every handler (the Handler protocol, the worker's endpoint, the test
doubles) has exactly the methods and keyword arguments ``rpc/contract.py``
defines: a method or an argument added to the contract and forgotten in one
of them fails here, not on the bed."""

from __future__ import annotations

import inspect

import pytest

from k8s_worker.api.endpoint import LifecycleEndpoint
from k8s_worker.intake.handler import Handler
from rpc import contract
from tests.doubles.intake import InMemoryHandler, NoopHandler

SERVED = {n: s for n, s in contract.METHODS.items() if n != contract.PING_METHOD}


@pytest.mark.parametrize("handler", [Handler, LifecycleEndpoint, InMemoryHandler, NoopHandler])
@pytest.mark.parametrize("name", sorted(SERVED))
def test_a_handler_takes_each_method_with_the_contracts_arguments(handler: type, name: str) -> None:
    method = getattr(handler, name, None)
    assert method is not None, f"{handler.__name__} has no {name}"
    params = inspect.signature(method).parameters
    keywords = {p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY}
    takes_any = any(v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values())
    expected = {f.name for f in SERVED[name].fields}
    assert takes_any or keywords == expected, (name, keywords, expected)


def test_the_noop_handler_is_built_from_the_contract() -> None:
    casts = {n for n, s in SERVED.items() if s.kind == "cast"}
    assert casts <= set(dir(NoopHandler))
