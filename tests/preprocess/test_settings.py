"""The `preprocess` config schema: defaults agree with the code, bad values are caught."""

from __future__ import annotations

import copy
import inspect

import pytest

from latentcf.config import ConfigValidationError, validate_config
from latentcf.preprocess.bias import n4_correct
from latentcf.preprocess.register import (
    AFFINE_DEFAULT,
    RIGID_DEFAULT,
    affine_register,
    default_random_seed,
)
from latentcf.preprocess.settings import settings_problems

BASE = {"demo": {"enabled": True}}


def _section(**preprocess):
    return validate_config(copy.deepcopy({**BASE, "preprocess": preprocess}))["preprocess"]


def _defaults(function):
    return {
        k: p.default
        for k, p in inspect.signature(function).parameters.items()
        if p.default is not p.empty
    }


def test_schema_defaults_match_the_code_defaults():
    section = _section()
    assert section["resolution_mm"] == 2
    assert section["skullstrip"]["method"] == "deepbet"
    n4 = _defaults(n4_correct)
    for key in ("working_resolution_mm", "shrink_factor", "tolerance"):
        assert section["n4"][key] == pytest.approx(n4[key])
    assert tuple(section["n4"]["iterations"]) == tuple(n4["iterations"])
    reg = _defaults(affine_register)
    for key in ("working_resolution_mm", "sampling_rate", "metric"):
        assert section["registration"][key] == reg[key]
    # The seed's default lives in the schema only; the code's None means "the schema default".
    assert reg["random_seed"] is None
    assert section["registration"]["random_seed"] == default_random_seed() == 1
    for stage, default in (("rigid", RIGID_DEFAULT), ("affine", AFFINE_DEFAULT)):
        for key, value in default.items():
            assert tuple(section["registration"][stage][key]) == tuple(value)
    assert list(settings_problems(section)) == []


@pytest.mark.parametrize(
    "preprocess,expected",
    [
        ({"skullstrip": {"method": "deepbett"}}, "Did you mean 'deepbet'"),
        ({"resolution_mm": 3}, "preprocess.resolution_mm"),
        ({"registration": {"metrc": "GC"}}, "Did you mean 'metric'"),
        ({"normalisation": {"upper_percentile": 101}}, "preprocess.normalisation.upper_percentile"),
        ({"registration": {"random_seed": -1}}, "preprocess.registration.random_seed"),
        ({"registration": {"random_seed": 1.5}}, "preprocess.registration.random_seed"),
    ],
)
def test_bad_values_name_the_key(preprocess, expected):
    with pytest.raises(ConfigValidationError, match=expected):
        _section(**preprocess)


def test_cross_key_problems_stop_the_config_load():
    with pytest.raises(ConfigValidationError) as info:
        _section(
            normalisation={"lower_percentile": 99, "upper_percentile": 1},
            registration={"affine": {"iterations": [10, 10]}},
        )
    problems = info.value.problems
    assert len(problems) == 2
    assert "lower_percentile" in problems[0] and "preprocess.registration.affine" in problems[1]


def test_settings_problems_is_quiet_on_defaults():
    assert list(settings_problems(_section())) == []
