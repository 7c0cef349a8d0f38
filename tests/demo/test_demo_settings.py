"""Demo settings: schema defaults, and clear messages for bad interventions or keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from latentcf.demo.settings import DEFAULTS, merge_defaults, parse_interventions
from latentcf.errors import ConfigError

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "demo.schema.yaml"


def _schema_defaults(schema: dict) -> dict:
    out = {}
    for key, sub in schema["properties"].items():
        if sub.get("type") == "object" and "properties" in sub:
            out[key] = _schema_defaults(sub)
        else:
            out[key] = sub["default"]
    return out


def test_schema_defaults_match_package_defaults():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert schema["additionalProperties"] is False
    assert _schema_defaults(schema) == DEFAULTS


def test_every_schema_key_is_described():
    def walk(schema, path):
        for key, sub in schema.get("properties", {}).items():
            assert "default" in sub and sub.get("description"), f"{path}{key}"
            walk(sub, f"{path}{key}.")

    walk(yaml.safe_load(SCHEMA.read_text()), "demo.")


def test_merge_defaults_fills_nested_keys():
    cfg = merge_defaults({"n_subjects": 5, "atrophy": {"hippocampus": {"age_rate": -0.01}}})
    assert cfg["n_subjects"] == 5
    assert cfg["atrophy"]["hippocampus"] == {
        "age_rate": -0.01,
        "ad_effect": DEFAULTS["atrophy"]["hippocampus"]["ad_effect"],
    }
    assert cfg["atrophy"]["cortex"] == DEFAULTS["atrophy"]["cortex"]


def test_unknown_demo_key_names_it():
    with pytest.raises(ConfigError, match=r"demo\.n_subject.*Did you mean 'n_subjects'"):
        merge_defaults({"n_subject": 3})


def test_interventions_parse_and_apply():
    ivs = parse_interventions(
        [
            {"name": "age10", "shift": {"age": 10}},
            {"name": "j", "shift": {"age": 5}, "set": {"diagnosis": "AD"}},
        ]
    )
    fact = {"age": 70.0, "sex": "F", "diagnosis": "CN"}
    assert ivs[0].apply(fact) == {"age": 80.0, "sex": "F", "diagnosis": "CN"}
    assert ivs[1].apply(fact) == {"age": 75.0, "sex": "F", "diagnosis": "AD"}


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        (
            {"name": "a", "shift": {"ages": 10}},
            r"interventions\[0\]\.shift\.ages.*only the covariates.*Did you mean 'age'",
        ),
        (
            {"name": "a", "set": {"diagnosis": "MCI"}},
            r"set\.diagnosis.*unknown level 'MCI'.*\['CN', 'AD'\]",
        ),
        ({"name": "a", "set": {"sex": "f"}}, r"set\.sex.*unknown level 'f'"),
        ({"name": "a", "shift": {"sex": 1}}, r"shift\.sex.*categorical.*use 'set'"),
        ({"name": "a", "shift": {"age": "ten"}}, r"shift\.age.*expected a number"),
        ({"name": "a", "set": {"bmi": 30}}, r"set\.bmi.*models only the covariates"),
        ({"name": "a"}, r"neither 'shift' nor 'set'"),
        ({"name": "a-b", "shift": {"age": 1}}, r"name.*letters and digits"),
        ({"name": "factual", "shift": {"age": 1}}, r"reserved"),
    ],
)
def test_bad_intervention_messages(item, pattern):
    with pytest.raises(ConfigError, match=pattern):
        parse_interventions([item])


def test_duplicate_intervention_names():
    with pytest.raises(ConfigError, match=r"interventions\[1\]\.name.*used twice"):
        parse_interventions(
            [{"name": "a", "shift": {"age": 1}}, {"name": "a", "shift": {"age": 2}}]
        )


def test_simulate_demo_rejects_bad_intervention_before_work(tmp_path):
    from latentcf.demo import simulate_demo

    with pytest.raises(ConfigError, match="diagnosis"):
        simulate_demo(
            tmp_path / "bids", {"n_subjects": 2}, [{"name": "x", "set": {"diagnosis": "PD"}}], 1
        )
    assert not (tmp_path / "bids").exists()
