"""The forecast stage on tiny synthetic latents: files, table rows, the fallback and empty cohorts."""

from __future__ import annotations

import json
import logging

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from vq_settings import TINY_MODEL

from latentcf import derivatives
from latentcf.forecast.stage import run_forecast
from latentcf.forecast.tasks import History, histories, tasks
from latentcf.models.base import build_model
from latentcf.models.checkpoint import save_model
from latentcf.scm.fit import fit_latent_scm

COVARIATES = {"age": {"type": "numeric", "parents": []}}
# 12 train subjects x 3 sessions; test: 3 sessions, 2 sessions, 1 session; val: 2 sessions.
SESSIONS = {**{f"t{i:02d}": ("train", 3) for i in range(12)}, "a": ("test", 3), "b": ("test", 2)}
SESSIONS |= {"c": ("test", 1), "v": ("val", 2)}


def make_cohort() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for label, (split, n) in SESSIONS.items():
        start = rng.uniform(60, 75)
        for k in range(n):
            pid, ses = f"sub-{label}", f"ses-{k + 1:02d}"
            rows.append(
                {
                    "scan": f"{pid}/{ses}/anat/{pid}_{ses}",
                    "participant_id": pid,
                    "session_id": ses,
                    "path": f"/data/{pid}_{ses}_T1w.nii.gz",
                    "split": split,
                    "age": round(start + 2.0 * k + rng.uniform(0, 1), 2),
                }
            )
    return pd.DataFrame(rows)


def write_latents(root, cohort, shape, noise):
    """Latents on subject lines (population slope + a subject deviation), two chunk folders."""
    rng = np.random.default_rng(1)
    k = int(np.prod(shape))
    beta = 0.05 * rng.normal(size=k)
    z = np.empty((len(cohort), k), dtype=np.float32)
    for _, rows in cohort.groupby("participant_id"):
        a, slope = rng.normal(size=k), beta + 0.01 * rng.normal(size=k)
        t = rows["age"].to_numpy()[:, None] - 70
        z[rows.index] = a + t * slope + noise * rng.normal(size=(len(rows), k))
    dirs = []
    subjects = cohort["participant_id"].unique()
    for c, part in enumerate((subjects[::2], subjects[1::2])):
        idx = np.flatnonzero(cohort["participant_id"].isin(part))
        folder = root / "encode" / f"chunk-{c:02d}"
        folder.mkdir(parents=True)
        pd.DataFrame({"row": range(len(idx)), "scan": cohort["scan"].iloc[idx]}).to_csv(
            folder / derivatives.SCANS_TABLE, sep="\t", index=False
        )
        np.save(folder / derivatives.latent_file("z"), z[idx].reshape(len(idx), *shape))
        dirs.append(folder)
    return dirs, z


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("forecast")
    torch.manual_seed(0)
    model = build_model(TINY_MODEL)
    model.training_loss(torch.rand(1, 1, 40, 48, 40), 1)  # initialise the codebook
    shape = tuple(model.latent_shapes((40, 48, 40))["z"])
    meta = {"image_shape": [40, 48, 40], "latent_shapes": {"z": list(shape)}, "scm_latent": "z"}
    save_model(root / "model.pt", model, TINY_MODEL, meta)
    cohort = make_cohort()
    cohort.to_csv(root / "cohort.tsv", sep="\t", index=False)
    dirs, z = write_latents(root, cohort, shape, noise=1e-3)
    scm = fit_latent_scm(cohort, dirs, "z", shape, COVARIATES, None)
    scm.save(root / "design.json", root / "coefficients.npz")
    return {"root": root, "cohort": cohort, "dirs": dirs, "z": z}


def run(setup, out, cohort_tsv=None, **forecast):
    root = setup["root"]
    return run_forecast(
        root / "model.pt", TINY_MODEL, setup["dirs"], cohort_tsv or root / "cohort.tsv", COVARIATES,
        (root / "design.json", root / "coefficients.npz"), out, 4, {"device": "cpu", **forecast},
    )  # fmt: skip


@pytest.fixture(scope="module")
def written(setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "forecast"
    return out, run(setup, out)


def test_files_and_rows(setup, written):
    out, table = written
    on_disk = pd.read_csv(out / derivatives.FORECASTS_TABLE, sep="\t")
    assert list(on_disk["method"]) == list(table["method"])
    expected = {  # (subject, method, n_scans_used): main
        ("sub-a", "ols", 2): True, ("sub-a", "prior_single", 1): True,
        ("sub-a", "prior_all", 1): False, ("sub-a", "prior_all", 2): True,
        ("sub-a", "no_change", 1): True, ("sub-a", "population", 0): True,
        ("sub-b", "prior_single", 1): True, ("sub-b", "prior_all", 1): True,
        ("sub-b", "no_change", 1): True, ("sub-b", "population", 0): True,
    }  # fmt: skip
    got = {(r.subject, r.method, r.n_scans_used): r.main for r in on_disk.itertuples()}
    assert got == expected
    a = on_disk[on_disk["subject"] == "sub-a"].set_index(["method", "n_scans_used"])
    assert set(a["target_scan"]) == {"sub-a/ses-03/anat/sub-a_ses-03"}
    assert (
        a.loc[("ols", 2), "scans_used"]
        == "sub-a/ses-01/anat/sub-a_ses-01;sub-a/ses-02/anat/sub-a_ses-02"
    )
    # no_change's image is the preprocessed earlier scan; curve rows have no image by default
    assert pd.isna(a.loc[("no_change", 1), "image"]) and pd.isna(a.loc[("prior_all", 1), "image"])
    assert pd.isna(a.loc[("ols", 2), "shrinkage_weight"])
    assert (
        0 < a.loc[("prior_all", 2), "shrinkage_weight"] < 1
        and a.loc[("prior_single", 1), "shrinkage_weight"] == 0
    )
    images = on_disk[on_disk["image"].notna()]
    assert sorted(images["method"]) == sorted(
        ["ols"] + ["prior_single", "prior_all", "population"] * 2
    )  # sub-b has one earlier scan: no ols
    for row in images.itertuples():  # relative to the forecast folder
        assert row.image == derivatives.forecast_file(row.target_scan, 4, row.method)
        assert nib.load(out / row.image).shape == (40, 48, 40)
    assert (
        out
        / "sub-a/ses-03/anat/sub-a_ses-03_space-MNI152NLin2009cSym_res-4_desc-forecastpriorall_T1w.nii.gz"
    ).is_file()
    assert not list(out.rglob("sub-c*")) and not list(out.rglob("sub-v*"))  # one session; val


def test_errors_prior_and_summary(written):
    out, table = written
    main = table[table["main"]].groupby("method")["latent_rel_l2"].mean()
    # Latents on lines with little noise: extrapolating beats standing still.
    assert main["ols"] < 0.01 and main["prior_all"] < main["no_change"]
    prior = json.loads((out / derivatives.FORECAST_PRIOR_JSON).read_text())
    assert prior["slope_source"] == "within_subject" and prior["n_train_subjects"] == 12
    assert prior["n_forecast_subjects"] == 2 and prior["tau2"] > 0 and prior["sigma2"] > 0
    arrays = np.load(out / derivatives.FORECAST_PRIOR_ARRAYS)
    assert arrays["slope"].shape == (4 * 10 * 12 * 10,) and arrays["tau2"].shape == ()
    errors = pd.read_csv(out / derivatives.FORECAST_ERRORS_TABLE, sep="\t")
    row = errors[(errors["rows"] == "main") & (errors["method"] == "prior_all")].iloc[0]
    assert row["n_subjects"] == 2 and row["rel_l2_mean"] == pytest.approx(
        main["prior_all"], rel=1e-5
    )
    curve = errors[(errors["rows"] == "n_scans") & (errors["method"] == "prior_all")]
    assert list(curve["n_scans_used"].astype(int)) == [1, 2] and list(curve["n_subjects"]) == [2, 1]


def test_few_longitudinal_train_subjects_fall_back_to_the_scm(setup, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="latentcf"):
        table = run(
            setup, tmp_path / "f", min_train_subjects=13, methods=["prior_all"], curve_images=True
        )
    curve = table[~table["main"]]
    assert list(curve["image"]) == [
        derivatives.forecast_file("sub-a/ses-03/anat/sub-a_ses-03", 4, "prior_all", 1)
    ]
    assert curve["image"].iloc[0].endswith("_desc-forecastprioralln1_T1w.nii.gz")
    assert (tmp_path / "f" / curve["image"].iloc[0]).is_file()
    assert (
        "fewer than forecast.min_train_subjects 13: population slope from the latent SCM"
        in caplog.text
    )
    prior = json.loads((tmp_path / "f" / derivatives.FORECAST_PRIOR_JSON).read_text())
    assert prior["slope_source"] == "scm" and prior["tau2"] is None
    assert (table["shrinkage_weight"] == 0).all() and set(table["method"]) == {"prior_all"}


def test_a_cross_sectional_held_out_split_gives_empty_tables(setup, tmp_path, caplog):
    cohort = setup["cohort"]
    keep = (cohort["split"] == "train") | (cohort["session_id"] == "ses-01")
    cohort[keep].to_csv(tmp_path / "cohort.tsv", sep="\t", index=False)
    with caplog.at_level(logging.INFO, logger="latentcf"):
        table = run(setup, tmp_path / "e", cohort_tsv=tmp_path / "cohort.tsv")
    assert table.empty and "a cross-sectional cohort" in caplog.text
    for name in (derivatives.FORECASTS_TABLE, derivatives.FORECAST_ERRORS_TABLE):
        written = pd.read_csv(tmp_path / "e" / name, sep="\t")
        assert written.empty and len(written.columns) > 3
    assert (
        json.loads((tmp_path / "e" / derivatives.FORECAST_PRIOR_JSON).read_text())[
            "n_forecast_subjects"
        ]
        == 0
    )


def test_tasks_use_the_most_recent_scans_and_need_two_ages_for_ols():
    h = History("sub-x", "test", ("s1", "s2", "s3"), (60.0, 64.0, 64.0), "s4", "ses-04", 66.0)
    got = [(t.method, t.scans) for t in tasks(h, ["ols", "prior_all"])]
    assert got == [("ols", ("s1", "s2", "s3")), ("prior_all", ("s3",)), ("prior_all", ("s2", "s3")), ("prior_all", ("s1", "s2", "s3"))]  # fmt: skip
    cohort = pd.DataFrame(
        {"scan": ["p", "q", "r"], "participant_id": ["sub-y"] * 3, "session_id": ["ses-1", "ses-2", "ses-3"],
         "split": "test", "age": [70.0, 66.0, 70.0]}
    )  # fmt: skip
    (h,) = histories(cohort, ["test"], "age")
    assert h.target_scan == "r" and h.scans == ("q",)  # the same-age session is not "earlier"
