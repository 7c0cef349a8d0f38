"""fit_scm's streamed fit over encode chunk folders: recovers a known B, uses train scans and train
statistics only, and refuses designs it cannot fit before reading latents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latentcf import derivatives
from latentcf.scm.fit import fit_latent_scm
from latentcf.scm.fitted import FittedSCM
from latentcf.scm.glm import DesignError

SHAPE = (2, 3, 4, 3)
COVARIATES = {
    "age": {"type": "numeric", "parents": []},
    "sex": {"type": "categorical", "levels": ["F", "M"], "parents": []},
    "diagnosis": {"type": "categorical", "levels": ["CN", "AD"], "parents": ["age"]},
}


def make_cohort(n=30, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"sub-{i:03d}" for i in range(n)]
    return pd.DataFrame(
        {
            "scan": [f"{p}/anat/{p}" for p in ids],
            "participant_id": ids,
            "session_id": "n/a",
            "path": [f"/data/{p}_T1w.nii.gz" for p in ids],
            "split": ["train"] * (n - 6) + ["val"] * 3 + ["test"] * 3,
            "age": rng.uniform(55, 85, n),
            "sex": rng.choice(["F", "M"], n),
            "diagnosis": np.where(rng.random(n) < 0.4, "AD", "CN"),
        }
    )


def write_chunks(root, cohort, latents, n_chunks=3):
    """Chunk folders as the encode stage writes them (rows in a shuffled order)."""
    order = np.random.default_rng(1).permutation(len(cohort))
    dirs = []
    for c, part in enumerate(np.array_split(order, n_chunks)):
        folder = root / f"chunk-{c:02d}"
        folder.mkdir(parents=True)
        pd.DataFrame(
            {"row": range(len(part)), "scan": cohort["scan"].iloc[part].to_numpy()}
        ).to_csv(folder / derivatives.SCANS_TABLE, sep="\t", index=False)
        np.save(folder / derivatives.latent_file("z"), latents[part].astype(np.float32))
        dirs.append(folder)
    return dirs


def true_latents(cohort, noise=0.05, seed=2):
    rng = np.random.default_rng(seed)
    k = int(np.prod(SHAPE))
    age = (cohort["age"] - 70) / 10
    b = rng.normal(size=(4, k))
    p = np.column_stack(
        [np.ones(len(cohort)), age, cohort["sex"] == "M", cohort["diagnosis"] == "AD"]
    )
    return (p @ b + noise * rng.normal(size=(len(cohort), k))).reshape(len(cohort), *SHAPE)


def fit(cohort, dirs, **scm):
    return fit_latent_scm(cohort, dirs, "z", SHAPE, COVARIATES, None, scm)


def test_fit_recovers_the_effects_and_saves(tmp_path):
    cohort = make_cohort()
    dirs = write_chunks(tmp_path, cohort, true_latents(cohort, noise=0.0))
    scm = fit(cohort, dirs)
    assert scm.design.columns() == ["intercept", "age", "sex[M]", "diagnosis[AD]"]
    assert scm.info["n_train"] == 24 and scm.coefficients.shape == (4, int(np.prod(SHAPE)))
    np.testing.assert_allclose(
        scm.r2, 1.0, atol=1e-6
    )  # noiseless: the covariates explain everything
    # a 10-year shift moves each dimension by 10/sd x the age coefficient (the true slope per decade)
    true = true_latents(cohort, noise=0.0).reshape(len(cohort), -1)
    train = cohort["split"] == "train"
    older = cohort.assign(age=cohort["age"] + 10)
    shift = (scm.design.encode(older) - scm.design.encode(cohort)) @ scm.coefficients
    np.testing.assert_allclose(
        shift, true_latents(older, noise=0.0).reshape(len(cohort), -1) - true, atol=1e-4
    )
    assert train.sum() == 24
    scm.save(tmp_path / "design.json", tmp_path / "coefficients.npz")
    again = FittedSCM.load(tmp_path / "design.json", tmp_path / "coefficients.npz")
    np.testing.assert_array_equal(again.coefficients, scm.coefficients)
    assert again.graph == scm.graph and again.design == scm.design and again.latent_shape == SHAPE


def test_tiny_batches_equal_one_batch(tmp_path):
    cohort = make_cohort()
    dirs = write_chunks(tmp_path, cohort, true_latents(cohort))
    one = fit(cohort, dirs, batch_mb=64)
    many = fit(cohort, dirs, batch_mb=1)  # K = 72: the memory cap is never reached; force it below
    import latentcf.scm.fit as fit_module

    original = fit_module.latent_batches

    def two_rows(chunk_dirs, scans, name, batch_mb):
        for scan_list, z in original(chunk_dirs, scans, name, batch_mb):
            for start in range(0, len(scan_list), 2):
                yield scan_list[start : start + 2], z[start : start + 2]

    fit_module.latent_batches = two_rows
    try:
        streamed = fit(cohort, dirs)
    finally:
        fit_module.latent_batches = original
    np.testing.assert_allclose(streamed.coefficients, one.coefficients, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(many.coefficients, one.coefficients, rtol=1e-10, atol=1e-12)


def test_held_out_scans_change_nothing(tmp_path):
    """Standardisation and coefficients come from the train split only."""
    cohort = make_cohort()
    latents = true_latents(cohort)
    scm = fit(cohort, write_chunks(tmp_path / "a", cohort, latents))
    held_out = cohort["split"] != "train"
    changed = cohort.copy()
    changed.loc[held_out, "age"] = 120.0
    changed.loc[held_out, "diagnosis"] = "AD"
    latents2 = latents.copy()
    latents2[held_out.to_numpy()] += 100.0
    scm2 = fit(changed, write_chunks(tmp_path / "b", changed, latents2))
    np.testing.assert_array_equal(scm2.coefficients, scm.coefficients)
    assert scm2.design == scm.design


def test_unfittable_designs_fail_before_reading_latents(tmp_path):
    cohort = make_cohort()
    no_ad = cohort.assign(diagnosis=np.where(cohort["split"] == "train", "CN", cohort["diagnosis"]))
    with pytest.raises(
        DesignError, match=r"\['diagnosis\[AD\]'\] are zero for every scan of the train split"
    ):
        fit(no_ad, [tmp_path / "nowhere"])
    covariates = {**COVARIATES, "age2": {"type": "numeric", "parents": []}}
    collinear = cohort.assign(age2=cohort["age"] * 12)
    with pytest.raises(DesignError, match=r"columns \['age', 'age2'\] are \(nearly\) collinear"):
        fit_latent_scm(collinear, [tmp_path / "nowhere"], "z", SHAPE, covariates, None, {})


def test_missing_latents_are_reported(tmp_path):
    cohort = make_cohort()
    dirs = write_chunks(tmp_path, cohort, true_latents(cohort))
    with pytest.raises(Exception, match="found latents of .* of the 24 train scans"):
        fit(cohort, dirs[:2])
