"""YAML budgets: alias bombs and other oversized documents are refused before
anything is built, cheaply, and with a short message."""

from __future__ import annotations

import tracemalloc

import pytest

from k8s_worker.tosca import VnfdError, translate
from k8s_worker.tosca.loader import YamlBudget, YamlBudgetExceeded, check_budget


def _laughs(indent: str = "") -> str:
    """Nine levels of nine aliases each: 9**9 strings once expanded."""
    lines = [f'{indent}l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        refs = ",".join([f"*l{i - 1}"] * 9)
        lines.append(f"{indent}l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


TACKER_HEAD = "tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0\n"
SOL001_HEAD = "tosca_definitions_version: tosca_simple_yaml_1_2\n"
BOMBS = {
    "tacker metadata": TACKER_HEAD + "metadata:\n" + _laughs("  "),
    "tacker inputs": TACKER_HEAD + "topology_template:\n  inputs:\n" + _laughs("    "),
    "tacker properties": TACKER_HEAD
    + "topology_template:\n  node_templates:\n    VDU1:\n"
    + "      type: tosca.nodes.nfv.VDU.Tacker\n      properties:\n"
    + _laughs("        "),
    "sol001 metadata": SOL001_HEAD + "metadata:\n" + _laughs("  "),
    "sol001 properties": SOL001_HEAD
    + "topology_template:\n  node_templates:\n    VDU1:\n"
    + "      type: tosca.nodes.nfv.Vdu.Compute\n      properties:\n"
    + _laughs("        "),
}


@pytest.mark.parametrize("where", sorted(BOMBS))
def test_alias_bombs_are_refused_cheaply_with_a_short_message(where: str) -> None:
    bomb = BOMBS[where]
    assert len(bomb) < 1200
    tracemalloc.start()
    try:
        with pytest.raises(VnfdError) as refused:
            translate(bomb, vnf_id="v-bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(str(refused.value)) < 4096
    assert "aliases" in str(refused.value) or "expands to more than" in str(refused.value)
    assert peak < 50 * 2**20


def test_each_budget() -> None:
    small = YamlBudget(max_bytes=100, max_nodes=16, max_aliases=2, max_depth=3)
    doc = "a: &x [1, 2]\nb: *x\nc: [*x]\n"  # 1 + (1+3) + (1+3) + (1+1+3) nodes = 14
    check_budget(doc, small)
    with pytest.raises(YamlBudgetExceeded, match="expands to more than 13 nodes"):
        check_budget(doc, YamlBudget(max_nodes=13))
    with pytest.raises(YamlBudgetExceeded, match="more than 1 aliases"):
        check_budget(doc, YamlBudget(max_aliases=1))
    with pytest.raises(YamlBudgetExceeded, match="deeper than 3"):
        check_budget("a: [[[1]]]\n", small)
    with pytest.raises(YamlBudgetExceeded, match="bytes, over the limit of 100"):
        check_budget("a: " + "x" * 100, small)
    with pytest.raises(YamlBudgetExceeded, match="enclosing anchor"):
        check_budget("a: &r [*r]\n", small)


def test_a_syntax_error_is_left_to_the_load() -> None:
    check_budget("a: [1, 2\n", YamlBudget())
    with pytest.raises(VnfdError, match="not valid YAML"):
        translate("a: [1, 2\n", vnf_id="v")


def test_an_oversized_vnfd_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(VnfdError, match="over the limit of 2048"):
        translate(TACKER_HEAD + "#" * 4096, vnf_id="v", budget=YamlBudget(max_bytes=2048))
