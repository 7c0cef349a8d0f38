"""The causal graph: checked at config load (cycles, unknown names, reference levels), ordered for counterfactuals."""

from __future__ import annotations

import pytest

from latentcf.config import ConfigValidationError, validate_config
from latentcf.scm.graph import CausalGraph, find_cycle, graph_problems

COVARIATES = {
    "age": {"type": "numeric"},
    "sex": {"type": "categorical", "levels": ["F", "M"]},
    "diagnosis": {"type": "categorical", "levels": ["CN", "AD"], "parents": ["age"]},
}


def config_problems(covariates, image_parents=None) -> str:
    config = {"demo": {"enabled": True}, "covariates": covariates, "image_parents": image_parents}
    config["interventions"] = [{"name": "a", "shift": {"age": 1}}]
    with pytest.raises(ConfigValidationError) as info:
        validate_config(config)
    return str(info.value)


def test_demo_graph_is_valid_and_ordered():
    graph = CausalGraph.from_config(COVARIATES, None)
    assert graph.image_parents == ("age", "sex", "diagnosis")
    assert graph.order() == ["age", "sex", "diagnosis"]
    assert graph.descendants(["age"]) == {"diagnosis"} and graph.descendants(["sex"]) == set()


def test_chain_order_and_descendants():
    covariates = {
        "c": {"type": "numeric", "parents": ["b"]},
        "a": {"type": "numeric"},
        "b": {"type": "numeric", "parents": ["a"]},
    }
    graph = CausalGraph.from_config(covariates, ["c"])
    assert graph.order() == ["a", "b", "c"]
    assert graph.descendants(["a"]) == {"b", "c"}


def test_cycle_is_named():
    covariates = {
        "a": {"type": "numeric", "parents": ["c"]},
        "b": {"type": "numeric", "parents": ["a"]},
        "c": {"type": "numeric", "parents": ["b"]},
    }
    cycle = find_cycle(covariates)
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    message = config_problems({**covariates, "age": {"type": "numeric"}})
    assert "'covariates': the parents form a cycle" in message and "acyclic" in message


def test_unknown_parent_suggests_the_closest():
    message = config_problems(
        {**COVARIATES, "diagnosis": {**COVARIATES["diagnosis"], "parents": ["agee"]}}
    )
    assert "'covariates.diagnosis.parents': unknown covariate 'agee'" in message
    assert "Did you mean 'age'?" in message


@pytest.mark.parametrize(
    ("covariates", "image_parents", "expected"),
    [
        ({"age": {"type": "numeric", "parents": ["age"]}}, None, "'age' cannot be its own parent"),
        (
            {
                "age": {"type": "numeric"},
                "dx": {"type": "categorical", "levels": ["CN", "AD"], "reference": "MCI"},
            },
            None,
            "'covariates.dx.reference': got 'MCI'; expected one of its levels ['CN', 'AD']",
        ),
        (
            {"age": {"type": "numeric", "reference": "x"}},
            None,
            "only categorical covariates have a reference",
        ),
        ({"age": {"type": "numeric"}}, ["aeg"], "'image_parents': unknown covariate 'aeg'"),
    ],
)
def test_bad_graphs(covariates, image_parents, expected):
    assert expected in "\n".join(graph_problems(covariates, image_parents))
    assert expected in config_problems(covariates, image_parents)


def test_from_config_refuses_a_bad_graph():
    with pytest.raises(ConfigValidationError, match="unknown covariate 'x'"):
        CausalGraph.from_config({"age": {"type": "numeric", "parents": ["x"]}}, None)
