"""The run summary (summary.md): each sampled model's realism side by side, and the models compared."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from latentcf.io import write_tsv_atomic
from latentcf.sample.deformations import jacobian_rows, jacobian_table
from latentcf.sample.realism import realism_table
from latentcf.summary import write_summary

STRUCTURES = ["hippocampus", "lateral_ventricles"]


def sampled_model(folder, shift: float, fid: float | None, warps: bool) -> pd.DataFrame:
    """realism.tsv, fid.json and jacobians.tsv of one model in `folder`; returns realism.tsv."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    real = pd.DataFrame({s: rng.normal(10, 1, 6) for s in STRUCTURES})
    table = realism_table(real.iloc[:4] + shift, real, STRUCTURES, "held-out")
    write_tsv_atomic(table, folder / "realism.tsv")
    (folder / "fid.json").write_text(json.dumps({"fid": fid}))
    rows = []
    if warps:
        fields = [torch.zeros(2, 3, 4, 4, 4), torch.full((2, 3, 4, 4, 4), 0.5)]
        fields[1][0, 0, 1] = -3.0  # a fold in one sample
        rows = jacobian_rows(fields, ["sample-000", "sample-001"])
    write_tsv_atomic(jacobian_table(rows), folder / "jacobians.tsv")
    return table


def test_summary_lists_each_sampled_models_realism(tmp_path):
    cohort = tmp_path / "cohort.tsv"
    pd.DataFrame({"participant_id": ["sub-1", "sub-2"], "split": ["train", "test"]}).to_csv(
        cohort, sep="\t", index=False
    )
    m3ae = sampled_model(tmp_path / "m3ae" / "sample", shift=0.5, fid=12.5, warps=True)
    betavae = sampled_model(tmp_path / "betavae" / "sample", shift=2.0, fid=None, warps=False)
    inputs = {
        "cohort": str(cohort),
        "m3ae: samples from the prior": [str(tmp_path / "m3ae" / "sample" / "realism.tsv")],
        "betavae: samples from the prior": [str(tmp_path / "betavae" / "sample" / "realism.tsv")],
    }
    text = write_summary(tmp_path, inputs, tmp_path / "summary.md").read_text()
    section = text.split("## Realism of samples from the prior: model x structure")[1]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:5] == [
        "model", "reference", "hippocampus (W1/SD)", "lateral_ventricles (W1/SD)",
        "multivariate (W1/SD)",
    ]  # fmt: skip
    assert "FID" in header and "folding (composed)" in header
    rows = {
        r[0]: r for r in ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])
    }
    assert set(rows) == {"m3ae", "betavae"}
    for name, table in (("m3ae", m3ae), ("betavae", betavae)):
        w1 = table.set_index("structure")["w1_per_sd"]
        assert float(rows[name][2]) == pytest.approx(w1["hippocampus"], abs=1e-3)
        assert float(rows[name][4]) == pytest.approx(w1["multivariate"], abs=1e-3)
    assert float(rows["m3ae"][header.index("FID")]) == 12.5
    assert rows["betavae"][header.index("FID")] in ("", "nan")
    jacobians = pd.read_csv(tmp_path / "m3ae" / "sample" / "jacobians.tsv", sep="\t")
    pooled = jacobians.set_index(["sample", "level"]).loc[("all", "composed"), "folding_fraction"]
    assert 0 < pooled < 1  # the fold of one sample, carried into the composed transform
    assert float(rows["m3ae"][header.index("folding (composed)")]) == pytest.approx(
        pooled, abs=1e-3
    )


def test_summary_compares_models_on_reconstruction_counterfactuals_forecasts_and_realism(tmp_path):
    cohort = tmp_path / "cohort.tsv"
    pd.DataFrame({"participant_id": ["sub-1"], "split": ["test"]}).to_csv(
        cohort, sep="\t", index=False
    )
    inputs = {"cohort": str(cohort)}
    for model, ssim, error, deviation in (("vqvae", 0.97, 3.0, 0.02), ("m3ae", 0.95, 6.0, 1e-4)):
        folder = tmp_path / model
        folder.mkdir()
        recon = pd.DataFrame(
            {"ssim": [ssim, ssim + 0.01], "psnr": [25.0, 27.0], "mae": [0.03, 0.05],
             "mse": [0.0021, 0.0030],
             "deviation_real": [0.01, 0.03], "deviation_recon": [deviation, deviation]}
        )  # fmt: skip
        truth = pd.DataFrame(
            {
                "scans": ["held-out", "held-out", "train"],
                "mean_abs_error_pp": [error, error + 2, 100.0],  # train rows are left out
            }
        )
        forecast = pd.DataFrame(
            {
                "method": ["ols", "ols", "no_change", "no_change", "prior_single", "prior_single"],
                "structure": ["hippocampus", "lateral_ventricles"] * 3,
                "abs_error_vs_truth_pp": [5.0, 7.0, 8.0, 8.0, 4.0, 6.0],
            }
        )
        for name, table in (
            ("reconstruction_metrics.tsv", recon),
            ("ground_truth_summary.tsv", truth),
            ("forecast.tsv", forecast),
        ):
            write_tsv_atomic(table, folder / name)
        inputs[f"{model}: evaluation"] = [
            str(folder / n)
            for n in ("reconstruction_metrics.tsv", "ground_truth_summary.tsv", "forecast.tsv")
        ]
    sampled_model(tmp_path / "m3ae" / "sample", shift=0.5, fid=None, warps=False)
    inputs["m3ae: samples from the prior"] = [str(tmp_path / "m3ae" / "sample" / "realism.tsv")]
    text = write_summary(tmp_path, inputs, tmp_path / "summary.md").read_text()
    section = text.split("## Models compared")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == [
        "model", "SSIM", "PSNR", "MAE", "MSE", "decoded / real deviation",
        "counterfactual abs. error (pp)", "forecast abs. error (pp), best",
        "forecast abs. error (pp), no_change", "samples: multivariate W1/SD",
    ]  # fmt: skip
    rows = {
        r[0]: r for r in ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])
    }
    # MSE keeps four decimals (0.00255, not 0.003); deviation: the reconstructions' mean over the
    # scans' mean (0.02 / 0.02; 1e-4 / 0.02)
    assert rows["vqvae"][1:8] == ["0.975", "26", "0.04", "0.0026", "1", "4", "5.00 (prior_single)"]
    assert rows["m3ae"][5] == "0.005"
    assert rows["m3ae"][6] == "7" and rows["vqvae"][9] == "nan" and float(rows["m3ae"][9]) > 0
