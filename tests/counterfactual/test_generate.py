"""Soundness of the counterfactuals (abduction, action, prediction) and the files they land in."""

from __future__ import annotations

import logging

import ants
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from cf_cases import COVARIATES, SCANS
from vq_settings import TINY_MODEL

from latentcf import derivatives
from latentcf.counterfactual.generate import counterfactual_chunk, decode_latents, latent_shifts
from latentcf.interventions import NULL, parse_interventions
from latentcf.models.checkpoint import load_model

INTERVENTIONS = [
    {"name": "age10", "shift": {"age": 10}},
    {"name": "none", "shift": {"age": 0}},
    {"name": "dxAD", "set": {"diagnosis": "AD"}},
    {"name": "sexM", "set": {"sex": "M"}},  # sex is not an image parent here
]


def _run(setup, out, interventions=INTERVENTIONS, **kwargs):
    root = setup["root"]
    return counterfactual_chunk(
        setup["model"], TINY_MODEL, (root / "design.json", root / "coefficients.npz"), root / "encode",
        root / "cohort.tsv", COVARIATES, interventions, out, resolution_mm=4, **kwargs,
    )  # fmt: skip


def _image(folder, scan, name, kind=derivatives.counterfactual_file):
    return np.asarray(nib.load(folder / kind(scan, 4, name, "vqvae")).dataobj)


@pytest.fixture(scope="module")
def written(setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("written") / "chunk-00"
    return out, _run(setup, out)


def test_null_intervention_is_the_null_decode_bit_for_bit(written):
    out, _ = written
    for scan in SCANS:
        np.testing.assert_array_equal(_image(out, scan, "none"), _image(out, scan, NULL))
        assert not np.any(_image(out, scan, "none", derivatives.difference_file))


def test_null_decode_is_the_reconstruction(setup, written):
    """Bit-identical to decoding the stored latent alone; equal to the encode stage's
    reconstruction (decoded in another batch) to float rounding."""
    out, _ = written
    model, _ = load_model(setup["model"], TINY_MODEL)
    z = np.load(setup["root"] / "encode" / derivatives.latent_file("z"))
    for i, scan in enumerate(SCANS):
        alone = decode_latents(model, "z", z[i : i + 1], torch.device("cpu"), "fp32")[0]
        recon = nib.load(
            setup["root"] / "encode" / derivatives.recon_file(scan, 4, "vqvae")
        ).get_fdata()
        np.testing.assert_allclose(_image(out, scan, NULL), recon, atol=1e-5)
        assert np.allclose(alone, _image(out, scan, NULL), atol=1e-6)


def test_latent_shift_is_the_intervention_times_the_coefficients(setup):
    scm, cohort = setup["scm"], setup["cohort"]
    ivs = parse_interventions(INTERVENTIONS, COVARIATES)
    _, shifts = latent_shifts(scm, cohort, ivs)
    columns = scm.design.columns()
    b_age = scm.coefficients[columns.index("age")]
    sd = scm.design.encoding("age").sd
    np.testing.assert_allclose(
        shifts["age10"], np.broadcast_to(10 / sd * b_age, shifts["age10"].shape), rtol=1e-12
    )
    assert not np.any(shifts["none"]) and not np.any(shifts["sexM"])
    ad = (cohort["diagnosis"] == "AD").to_numpy()
    b_ad = scm.coefficients[columns.index("diagnosis[AD]")]
    assert not np.any(shifts["dxAD"][ad])
    np.testing.assert_allclose(
        shifts["dxAD"][~ad], np.broadcast_to(b_ad, shifts["dxAD"][~ad].shape), rtol=1e-12
    )


def test_there_and_back_returns_to_the_reconstruction(setup):
    scm, cohort = setup["scm"], setup["cohort"]
    (older,) = parse_interventions([INTERVENTIONS[0]], COVARIATES)
    (younger,) = parse_interventions([{"name": "back", "shift": {"age": -10}}], COVARIATES)
    cf_covariates, there = latent_shifts(scm, cohort, [older])
    _, back = latent_shifts(scm, cf_covariates["age10"], [younger])
    np.testing.assert_allclose(there["age10"] + back["back"], 0.0, atol=1e-12)
    z = np.load(setup["root"] / "encode" / derivatives.latent_file("z")).reshape(len(cohort), -1)
    z_cf = (z.astype(np.float64) + there["age10"]).astype(np.float32)
    z_back = (z_cf.astype(np.float64) + back["back"]).astype(np.float32)
    np.testing.assert_allclose(z_back, z, atol=1e-6)
    model, _ = load_model(setup["model"], TINY_MODEL)
    shape = (len(cohort), *scm.latent_shape)
    decode = lambda a: decode_latents(model, "z", a.reshape(shape), torch.device("cpu"), "fp32")  # noqa: E731
    np.testing.assert_allclose(decode(z_back), decode(z), atol=1e-5)


def test_table_and_extrapolation_warning(setup, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="latentcf"):
        table = _run(setup, tmp_path / "c", interventions=INTERVENTIONS[:1])
    written = pd.read_csv(
        tmp_path / "c" / derivatives.COUNTERFACTUALS_TABLE, sep="\t", keep_default_na=False
    )
    assert list(written.columns) == [
        "scan", "participant_id", "session_id", "split", "intervention", "age", "sex", "diagnosis", "extrapolated",
    ]  # fmt: skip
    assert len(table) == 2 * len(SCANS)
    row = written[(written["scan"] == SCANS[3]) & (written["intervention"] == "age10")].iloc[0]
    assert row["age"] == 90.0 and row["extrapolated"] == "age=90 (train 60-80)"
    assert (
        f"{SCANS[3]} under age10: extrapolating beyond the train range: age=90 (train 60-80)"
        in caplog.text
    )
    assert written[written["scan"] == SCANS[0]]["extrapolated"].tolist() == ["", ""]


def test_only_configured_splits_and_native_space(setup, tmp_path):
    ref = nib.Nifti1Image(np.zeros((30, 36, 30), np.float32), np.diag([5.0, 5.0, 5.0, 1.0]))
    nib.save(ref, tmp_path / "native.nii.gz")
    ants.write_transform(
        ants.create_ants_transform(transform_type="AffineTransform", dimension=3),
        str(tmp_path / "id.mat"),
    )
    native = {s: (tmp_path / "id.mat", tmp_path / "native.nii.gz") for s in SCANS[4:]}
    out = tmp_path / "held_out"
    table = _run(
        setup,
        out,
        interventions=INTERVENTIONS[:1],
        counterfactual_config={"splits": ["val", "test"]},
        native=native,
    )
    assert sorted(set(table["scan"])) == SCANS[4:] and set(table["split"]) == {"val", "test"}
    for scan in SCANS[4:]:
        for name in (NULL, "age10"):
            img = nib.load(out / derivatives.native_counterfactual_file(scan, name, "vqvae"))
            assert img.shape == (30, 36, 30) and np.allclose(img.affine, ref.affine)
    assert not (out / "sub-000").exists()


def test_bad_intervention_fails_and_leaves_nothing(setup, tmp_path):
    with pytest.raises(Exception, match="unseen level 'MCI' for 'diagnosis'"):
        _run(setup, tmp_path / "bad", interventions=[{"name": "x", "set": {"diagnosis": "MCI"}}])
    assert not (tmp_path / "bad").exists()
