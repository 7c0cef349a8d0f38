"""Config validation: defaults, and messages that name key, bad value, allowed values, closest one."""

from __future__ import annotations

import copy

import pytest
import yaml

from latentcf.config import (
    ConfigValidationError,
    load_config,
    model_train_config,
    stage_models,
    validate_config,
)

DEMO_ON = {"demo": {"enabled": True}}


def problems_of(config: dict) -> str:
    with pytest.raises(ConfigValidationError) as info:
        validate_config(copy.deepcopy(config))
    return str(info.value)


def test_empty_config_gets_every_default():
    config = validate_config(copy.deepcopy(DEMO_ON))
    assert config["output_dir"] == "results"
    assert config["split"] == {"val_fraction": 0.15, "test_fraction": 0.15}
    assert [i["name"] for i in config["interventions"]] == ["age10", "dxAD", "dxCN"]
    for section in ("demo", "ingest", "preprocess", "models", "train", "encode"):
        assert isinstance(config[section], dict)
    assert list(config["models"]) == ["vqvae"] and config["models"]["vqvae"]["num_levels"] == 2
    assert config["chunks"] == 8


def test_shipped_config_is_valid(repo_root):
    config = load_config(repo_root / "config" / "config.yaml")
    assert config["demo"]["enabled"] is True


def test_unknown_top_level_key_suggests_closest():
    message = problems_of({**DEMO_ON, "sedd": 3})
    assert "unknown key(s) ['sedd']" in message
    assert "Did you mean 'seed'?" in message


def test_wrong_type_names_key_value_and_expected_type():
    message = problems_of({**DEMO_ON, "seed": "abc"})
    assert "'seed': got 'abc' (str); expected integer" in message


def test_bad_enum_lists_allowed_values():
    message = problems_of({**DEMO_ON, "covariates": {"age": {"type": "numric"}}})
    assert "'covariates.age.type'" in message
    assert "['numeric', 'categorical']" in message
    assert "Did you mean 'numeric'?" in message


def test_split_fractions_must_leave_training_subjects():
    message = problems_of({**DEMO_ON, "split": {"val_fraction": 0.5, "test_fraction": 0.5}})
    assert "val_fraction + test_fraction must be < 1" in message


@pytest.mark.parametrize(
    ("intervention", "expected"),
    [
        ({"name": "x", "set": {"diagnosis": "ADD"}}, "unseen level 'ADD' for 'diagnosis'"),
        ({"name": "x", "shift": {"agee": 10}}, "Did you mean 'age'?"),
        ({"name": "x", "shift": {"sex": 1}}, "cannot shift categorical covariate 'sex'"),
        ({"name": "x"}, "give 'shift' and/or 'set'"),
        ({"name": "a-b", "shift": {"age": 1}}, "expected text matching ^[A-Za-z0-9]+$"),
    ],
)
def test_bad_interventions(intervention, expected):
    assert expected in problems_of({**DEMO_ON, "interventions": [intervention]})


def test_duplicate_intervention_names():
    items = [{"name": "a", "shift": {"age": 1}}, {"name": "a", "shift": {"age": 2}}]
    assert "duplicate name" in problems_of({**DEMO_ON, "interventions": items})


def test_real_data_needs_an_input():
    message = problems_of({"demo": {"enabled": False}})
    assert "set input.bids_dir" in message


def test_load_config_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**DEMO_ON, "seed": -1}))
    with pytest.raises(ConfigValidationError, match=str(path)):
        load_config(path)


def test_config_readme_is_up_to_date(repo_root):
    from latentcf.config_docs import render_config_docs

    current = (repo_root / "config" / "README.md").read_text()
    assert current == render_config_docs(), "run: python -m latentcf.config_docs > config/README.md"


def test_key_order_does_not_change_the_validated_config():
    """Snakemake compares params as text: the same settings in another order must not rerun jobs."""
    a = validate_config({"demo": {"enabled": True, "n_subjects": 4}, "seed": 1})
    b = validate_config({"seed": 1, "demo": {"n_subjects": 4, "enabled": True}})
    assert repr(a) == repr(b)
    covariates = {"sex": {"type": "categorical", "levels": ["F", "M"]}, "age": {"type": "numeric"}}
    c = validate_config(
        {**DEMO_ON, "covariates": covariates, "interventions": [{"name": "a", "shift": {"age": 1}}]}
    )
    assert list(c["covariates"]) == ["sex", "age"], "covariate order is meaningful and kept"


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        (
            {"a": {"family": "vqvea"}},
            "'models.a.family': got 'vqvea'; expected one of ['vqvae', 'klae', 'm3ae', 'betavae']. Did you mean 'vqvae'?",
        ),
        ({"a": {"family": "vqvae", "num_level": 1}}, "'models.a': unknown key(s) ['num_level']"),
        ({"a": {"num_levels": 1}}, "'models.a': 'family' is a required property"),
        (
            {"a": {"family": "vqvae", "num_levels": 0}},
            "'models.a.num_levels': got 0; expected minimum 1",
        ),
        (
            {"a": {"family": "vqvae", "channels": [8, 8], "res_units": [1]}},
            "'models.a.res_units': expected one res_units entry per level (2",
        ),
        ({"my-model": {"family": "vqvae"}}, "got 'my-model'; expected text matching"),
        ({"cohort": {"family": "vqvae"}}, "'cohort' is a reserved name"),
        ({}, "'models': {} should be non-empty"),
    ],
)
def test_bad_models_name_the_model_and_key(models, expected):
    assert expected in problems_of({**DEMO_ON, "models": models})


def test_models_get_their_familys_defaults_each():
    config = validate_config(
        {
            **DEMO_ON,
            "models": {"two": {"family": "vqvae"}, "one": {"family": "vqvae", "num_levels": 1}},
        }
    )
    assert config["models"]["one"]["num_levels"] == 1 and config["models"]["two"]["num_levels"] == 2
    assert (
        config["models"]["one"]["channels"] == config["models"]["two"]["channels"] == [32, 64, 128]
    )


def test_sample_section_defaults_and_problems(tmp_path):
    config = validate_config(copy.deepcopy(DEMO_ON))
    assert config["sample"] == {
        "n": 8, "batch_size": 4, "device": "auto", "threads": 1, "figure_images": 4,
        "feature_network": None,
    }  # fmt: skip
    assert "'sample.n': got 1; expected minimum 2" in problems_of({**DEMO_ON, "sample": {"n": 1}})
    missing = tmp_path / "features.pt"
    message = problems_of({**DEMO_ON, "sample": {"feature_network": str(missing)}})
    assert f"'sample.feature_network': file '{missing}' not found" in message
    missing.write_bytes(b"checked when loaded")
    validate_config({**DEMO_ON, "sample": {"feature_network": str(missing)}})


def test_per_model_training_overrides(tmp_path):
    models = {"a": {"family": "vqvae"}, "b": {"family": "vqvae"}}
    config = validate_config(
        {
            **DEMO_ON,
            "models": models,
            "train": {"max_steps": 50, "per_model": {"b": {"max_steps": 7}}},
        }
    )
    assert model_train_config(config["train"], "a")["max_steps"] == 50
    b = model_train_config(config["train"], "b")
    assert b["max_steps"] == 7 and "per_model" not in b
    assert {k: v for k, v in b.items() if k != "max_steps"} == {
        k: v for k, v in model_train_config(config["train"], "a").items() if k != "max_steps"
    }
    bad = problems_of({**DEMO_ON, "models": models, "train": {"per_model": {"c": {"max_step": 1}}}})
    assert "'train.per_model.c': no model named 'c' in 'models'" in bad
    assert (
        "'train.per_model.c': unknown key(s) ['max_step']" in bad
        and "Did you mean 'max_steps'?" in bad
    )
    nested = problems_of(
        {**DEMO_ON, "models": models, "train": {"per_model": {"a": {"per_model": {}}}}}
    )
    assert "'train.per_model.a': per_model cannot be nested" in nested


def test_stage_models_choose_which_models_run_counterfactuals_and_forecasts():
    models = {"vqvae": {"family": "vqvae"}, "klae": {"family": "klae"}}
    config = validate_config({**DEMO_ON, "models": models, "counterfactual": {"models": ["klae"]}})
    assert stage_models(config, "counterfactual") == ["klae"]
    assert config["forecast"]["models"] is None
    assert stage_models(config, "forecast") == list(config["models"])  # null: every model
    none = validate_config({**DEMO_ON, "models": models, "forecast": {"models": []}})
    assert stage_models(none, "forecast") == []
    bad = problems_of(
        {**DEMO_ON, "models": models, "counterfactual": {"models": ["vqvea"]}, "forecast": {"models": ["m3ae"]}}
    )  # fmt: skip
    assert (
        "'counterfactual.models': no model named 'vqvea' in 'models' (['klae', 'vqvae'])."
        " Did you mean 'vqvae'?" in bad
    )
    assert "'forecast.models': no model named 'm3ae' in 'models'" in bad
    assert "'forecast.models'" in problems_of({**DEMO_ON, "forecast": {"models": "vqvae"}})


def test_a_batch_the_training_processes_cannot_share_is_refused_at_parse_time():
    models = {"a": {"family": "vqvae"}, "b": {"family": "vqvae"}}
    train = {"batch_size": 4, "distributed": {"nodes": 2, "processes": 1},
             "per_model": {"b": {"distributed": {"nodes": 3, "processes": 1}}}}  # fmt: skip
    problems = problems_of({**DEMO_ON, "models": models, "train": train})
    assert "'train.batch_size' (model 'b'): got 4; expected a multiple of" in problems
    assert "(3 x 1 = 3)" in problems and "model 'a'" not in problems
