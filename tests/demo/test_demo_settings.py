"""Demo settings: schema defaults, and clear messages for bad keys or interventions the
simulator cannot produce (generic intervention checks: tests/test_interventions.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from latentcf.config import ConfigValidationError, section_defaults
from latentcf.demo.settings import COVARIATES, demo_interventions, merge_defaults

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "demo.schema.yaml"


def test_every_schema_key_is_described():
    def walk(schema, path):
        for key, sub in schema.get("properties", {}).items():
            assert "default" in sub and sub.get("description"), f"{path}{key}"
            walk(sub, f"{path}{key}.")

    walk(yaml.safe_load(SCHEMA.read_text()), "demo.")


def test_merge_defaults_of_nothing_is_the_schema_defaults():
    assert merge_defaults(None) == section_defaults("demo.schema.yaml")
    assert merge_defaults({})["atrophy"]["hippocampus"] == {"age_rate": -0.005, "ad_effect": -0.10}


def test_merge_defaults_fills_nested_keys():
    defaults = section_defaults("demo.schema.yaml")
    cfg = merge_defaults({"n_subjects": 5, "atrophy": {"hippocampus": {"age_rate": -0.01}}})
    assert cfg["n_subjects"] == 5
    assert cfg["atrophy"]["hippocampus"] == {
        "age_rate": -0.01,
        "ad_effect": defaults["atrophy"]["hippocampus"]["ad_effect"],
    }
    assert cfg["atrophy"]["cortex"] == defaults["atrophy"]["cortex"]


def test_merge_defaults_does_not_modify_its_argument():
    demo = {"atrophy": {"cortex": {"age_rate": -0.01}}}
    merge_defaults(demo)
    assert demo == {"atrophy": {"cortex": {"age_rate": -0.01}}}


@pytest.mark.parametrize(
    ("demo", "pattern"),
    [
        ({"n_subject": 3}, r"'demo'.*unknown key.*'n_subject'.*Did you mean 'n_subjects'"),
        (
            {"atrophy": {"hipocampus": {"age_rate": 0.0}}},
            r"'demo\.atrophy'.*unknown key.*'hipocampus'.*Did you mean 'hippocampus'",
        ),
        ({"pose": {"max_rotation": 5}}, r"'demo\.pose'.*Did you mean 'max_rotation_deg'"),
        ({"n_subjects": "ten"}, r"'demo\.n_subjects': got 'ten' \(str\); expected integer"),
        ({"resolution_mm": 3}, r"'demo\.resolution_mm': got 3; expected one of \[1, 2, 4\]"),
        ({"male_fraction": 1.5}, r"'demo\.male_fraction': got 1\.5; expected maximum 1"),
        ({"age_range": [80, 60]}, r"'demo\.age_range'.*min < max.*\[80, 60\]"),
        ({"age_range": [70, 70]}, r"'demo\.age_range'.*min < max"),
        ({"scanner": {"gamma_range": [1.1, 0.9]}}, r"'demo\.scanner\.gamma_range'.*min <= max"),
    ],
)
def test_bad_demo_settings_name_the_key(demo, pattern):
    with pytest.raises(ConfigValidationError, match=pattern):
        merge_defaults(demo)


def test_equal_bounds_are_a_fixed_value():
    cfg = merge_defaults({"scanner": {"noise_fraction": [0.0, 0.0]}})
    assert cfg["scanner"]["noise_fraction"] == [0.0, 0.0]


def test_demo_covariates_are_a_valid_covariates_section():
    from latentcf.config import validate_config

    config = validate_config({"demo": {"enabled": True}, "covariates": COVARIATES})
    assert config["covariates"] == COVARIATES


def test_demo_interventions_apply():
    ivs = demo_interventions(
        [{"name": "age10", "shift": {"age": 10}}, {"name": "sexM", "set": {"sex": "M"}}]
    )
    fact = {"age": 70.0, "sex": "F", "diagnosis": "CN"}
    assert ivs[0].apply(fact) == {"age": 80.0, "sex": "F", "diagnosis": "CN"}
    assert ivs[1].apply(fact) == {"age": 70.0, "sex": "M", "diagnosis": "CN"}


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        # The workflow config may declare 'bmi'; the simulator still cannot intervene on it.
        (
            {"name": "a", "set": {"bmi": 30}},
            r"'interventions\.0' \(a\): unknown covariate 'bmi' in set; "
            r"the covariates the demo simulator models are \['age', 'sex', 'diagnosis'\]",
        ),
        ({"name": "a", "set": {"diagnosis": "MCI"}}, r"unseen level 'MCI'.*\['CN', 'AD'\]"),
        ({"name": "a", "set": {"sex": "f"}}, r"unseen level 'f' for 'sex'"),
        ({"name": "a", "shift": {"ages": 10}}, r"Did you mean 'age'"),
    ],
)
def test_simulator_refuses_what_it_does_not_model(item, pattern):
    with pytest.raises(ConfigValidationError, match=pattern):
        demo_interventions([item])


def test_counterfactuals_reject_bad_intervention_before_work(tmp_path):
    from latentcf.demo import simulate_demo_counterfactuals

    with pytest.raises(ConfigValidationError, match="unseen level 'PD' for 'diagnosis'"):
        simulate_demo_counterfactuals(
            tmp_path / "cf", {"n_subjects": 2}, [{"name": "x", "set": {"diagnosis": "PD"}}], 1
        )
    assert not (tmp_path / "cf").exists()


def test_simulate_demo_rejects_bad_settings_before_work(tmp_path):
    from latentcf.demo import simulate_demo, simulate_demo_counterfactuals

    with pytest.raises(ConfigValidationError, match=r"demo\.age_range"):
        simulate_demo(tmp_path / "bids", {"n_subjects": 2, "age_range": [90, 50]}, 1)
    with pytest.raises(ConfigValidationError, match=r"demo\.age_range"):
        simulate_demo_counterfactuals(tmp_path / "cf", {"age_range": [90, 50]}, [], 1)
    assert not (tmp_path / "bids").exists() and not (tmp_path / "cf").exists()
