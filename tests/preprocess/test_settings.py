"""The `preprocess` config schema: the one source of defaults; bad values are caught."""

from __future__ import annotations

import copy
import importlib
import inspect

import ants
import numpy as np
import pytest

from latentcf.config import ConfigValidationError, section_defaults, validate_config
from latentcf.errors import ConfigError
from latentcf.preprocess import normalise
from latentcf.preprocess.bias import n4_correct
from latentcf.preprocess.pipeline import run_grid, run_native, run_registration
from latentcf.preprocess.register import affine_register
from latentcf.preprocess.settings import merge_defaults, settings_problems
from latentcf.preprocess.skullstrip import BACKENDS

BASE = {"demo": {"enabled": True}}
DEFAULTS = section_defaults("preprocess.schema.yaml")


def _section(**preprocess):
    return validate_config(copy.deepcopy({**BASE, "preprocess": preprocess}))["preprocess"]


def test_schema_defaults():
    section = _section()
    assert section == DEFAULTS == merge_defaults(None)
    assert section["resolution_mm"] == 2
    assert section["skullstrip"]["method"] == "deepbet"
    assert list(settings_problems(section)) == []


@pytest.mark.parametrize(
    "function,options",
    [
        (n4_correct, {k: v for k, v in DEFAULTS["n4"].items() if k != "enabled"}),
        (affine_register, DEFAULTS["registration"]),
        *[
            (importlib.import_module(BACKENDS[m]).brain_mask, DEFAULTS["skullstrip"][m])
            for m in BACKENDS
        ],
    ],
    ids=lambda v: getattr(v, "__module__", "")[len("latentcf.preprocess.") :] or None,
)
def test_code_keeps_no_copy_of_the_defaults(function, options):
    """Lower-level functions take every schema option as a required keyword (no default)."""
    params = {
        p.name: p for p in inspect.signature(function).parameters.values() if p.name in options
    }
    assert set(params) == set(options)
    for p in params.values():
        assert p.kind is p.KEYWORD_ONLY and p.default is p.empty, p


def test_other_option_parameters_have_no_default():
    from latentcf.preprocess.skullstrip import skull_strip

    clip = inspect.signature(normalise.scale).parameters["clip"]
    assert clip.kind is clip.KEYWORD_ONLY and clip.default is clip.empty
    method = inspect.signature(skull_strip).parameters["method"]
    assert method.default is method.empty


def test_partial_options_are_completed_from_the_schema():
    section = merge_defaults({"registration": {"rigid": {"iterations": [10, 5]}}})
    assert section["registration"]["rigid"] == {
        **DEFAULTS["registration"]["rigid"],
        "iterations": [10, 5],
    }
    assert section["registration"]["affine"] == DEFAULTS["registration"]["affine"]


@pytest.mark.parametrize(
    "call,expected",
    [
        (
            lambda p: run_registration(*p, registration={"rigid": {"iterations": [10, 5, 1]}}),
            "preprocess.registration.rigid",
        ),
        (lambda p: run_registration(*p, registration={"metrc": "GC"}), "Did you mean 'metric'"),
        (lambda p: run_native(*p, n4={"shrink_factor": 0}), "preprocess.n4.shrink_factor"),
        (lambda p: run_native(*p, skullstrip={"method": "deepbett"}), "Did you mean 'deepbet'"),
        (
            lambda p: run_native(
                *p, skullstrip={"method": "template", "options": {"mask_treshold": 0.4}}
            ),
            r"preprocess.skullstrip.template.*Did you mean 'mask_threshold'",
        ),
        (
            lambda p: run_grid(*p, resolution_mm=3),
            "preprocess.resolution_mm",
        ),
        (
            lambda p: run_grid(*p, normalisation={"lower_percentile": 60, "upper_percentile": 40}),
            "preprocess.normalisation",
        ),
    ],
)
def test_entry_points_check_options_before_any_work(tmp_path, call, expected):
    """Bad options fail at once, naming the key, before the (absent) input files are read."""
    paths = [tmp_path / f"absent{i}.nii.gz" for i in range(5)]  # inputs, then outputs
    with pytest.raises(ConfigValidationError, match=expected):
        call(paths)
    assert list(tmp_path.iterdir()) == []


def test_skullstrip_options_must_be_complete_and_known(tmp_path):
    import nibabel as nib

    from latentcf.preprocess.skullstrip import skull_strip

    head = nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4))
    with pytest.raises(ConfigError, match="preprocess.skullstrip.template.*mask_threshold"):
        skull_strip(head, "template")
    with pytest.raises(ConfigError, match="preprocess.skullstrip.deepbet.*gpu"):
        skull_strip(head, "deepbet", threshold=0.5, use_gpu=True, gpu=False)
    with pytest.raises(ConfigError, match="'preprocess.skullstrip': unknown key"):
        paths = [tmp_path / f"absent{i}.nii.gz" for i in range(5)]
        run_native(*paths, skullstrip={"method": "deepbet", "threshold": 0.5})


def test_registration_pyramid_must_be_complete():
    img = ants.from_numpy(np.ones((8, 8, 8), np.float32))
    options = copy.deepcopy(DEFAULTS["registration"])
    del options["affine"]["smoothing_sigmas"]
    with pytest.raises(ConfigError, match="preprocess.registration.affine.*smoothing_sigmas"):
        affine_register(img, img, **options)
    options["affine"] = {"iterations": [1], "shrink_factors": [1, 1], "smoothing_sigmas": [0]}
    with pytest.raises(ConfigError, match="preprocess.registration.affine.*one value per level"):
        affine_register(img, img, **options)


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
