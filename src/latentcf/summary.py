"""A Markdown page saying what a workflow run built (cohort, stages, figures)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from latentcf.io import write_text_atomic

# Tables whose numeric columns the summary states (file name -> section title).
TABLES_TO_SUMMARISE = {
    "preprocess_qc.tsv": "Preprocessing QC (brain volume in ml, Dice/NCC with the template brain)",
    "reconstruction_metrics.tsv": "Reconstruction of held-out scans (inside the brain mask)",
}


def write_summary(
    output_dir: str | Path, inputs: Mapping[str, str | Sequence[str]], out_path: str | Path
) -> Path:
    """Write `out_path` listing the cohort's size and splits and every stage's outputs.

    `inputs` maps a stage name to one path or a list of paths (the summary rule's inputs).
    """
    output_dir, out_path = Path(output_dir), Path(out_path)
    lines = ["# latentcf run summary", ""]
    cohort = pd.read_csv(inputs["cohort"], sep="\t")
    by_split = cohort.groupby("split")["participant_id"].nunique().to_dict()
    lines += [
        f"Cohort: {len(cohort)} scans of {cohort['participant_id'].nunique()} subjects "
        f"(subjects per split: {by_split}); table: `{_rel(inputs['cohort'], out_path)}`.",
        "",
        "| stage | files | example |",
        "| --- | --- | --- |",
    ]
    for stage, paths in inputs.items():
        paths = [paths] if isinstance(paths, str) else list(paths)
        example = _rel(paths[0], out_path) if paths else "-"
        lines.append(f"| {stage} | {len(paths)} | `{example}` |")
    families = _family_comparison(inputs)
    if families:
        lines += ["", "## Models compared", "", families]
    for stage, paths in inputs.items():
        for path in [paths] if isinstance(paths, str) else paths:
            if Path(path).name in TABLES_TO_SUMMARISE:
                title = TABLES_TO_SUMMARISE[Path(path).name]
                lines += ["", f"## {title}: {stage.split(':')[0]}", "", _describe_table(path)]
    for stage, paths in inputs.items():
        for path in [paths] if isinstance(paths, str) else paths:
            if Path(path).name == "evaluation.md":  # a model's headline numbers
                text = (
                    Path(path)
                    .read_text()
                    .replace("## Evaluation", f"## Evaluation: {stage.split(':')[0]}", 1)
                )
                lines += ["", text.rstrip()]
    comparison = _forecast_comparison(inputs)
    if comparison:
        lines += ["", "## Forecasts: model x method x structure", "", comparison]
    realism = _realism_comparison(inputs)
    if realism:
        lines += ["", "## Realism of samples from the prior: model x structure", "", realism]
    figures = [p for p in sorted(output_dir.rglob("*.png")) if "sub-" not in p.name]
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{p.stem}]({_rel(p, out_path)})" for p in figures]
    return write_text_atomic("\n".join(lines) + "\n", out_path)


def _model_files(inputs: Mapping[str, str | Sequence[str]]) -> dict[str, dict[str, Path]]:
    """{model: {file name: path}} of every input under a "<model>: ..." stage."""
    files: dict[str, dict[str, Path]] = {}
    for stage, paths in inputs.items():
        if ":" not in stage:
            continue
        for path in [paths] if isinstance(paths, str) else paths:
            files.setdefault(stage.split(":")[0], {})[Path(path).name] = Path(path)
    return files


#: The columns of the model comparison, in this order (those no model has are left out).
FAMILY_COLUMNS = (
    "model", "SSIM", "PSNR", "MAE", "MSE", "decoded / real deviation",
    "counterfactual abs. error (pp)", "forecast abs. error (pp), best",
    "forecast abs. error (pp), no_change",
    "samples: multivariate W1/SD",
)  # fmt: skip


def _family_comparison(inputs: Mapping[str, str | Sequence[str]]) -> str:
    """One row per model: held-out reconstruction (mean SSIM, PSNR, MAE, MSE; the reconstructions'
    mean deviation from their mean over the scans'), counterfactual error
    against the truth (mean |error| over the held-out interventions x structures, pp), forecast
    error (mean over structures, pp: the best method and no_change) and, for sampled models,
    the multivariate realism distance. Columns a run lacks are left out."""
    rows = []
    for model, files in _model_files(inputs).items():
        row: dict[str, Any] = {"model": model}
        if "reconstruction_metrics.tsv" in files:
            recon = pd.read_csv(files["reconstruction_metrics.tsv"], sep="\t")
            row |= {
                "SSIM": recon["ssim"].mean(),
                "PSNR": recon["psnr"].mean(),
                "MAE": recon["mae"].mean(),
                "MSE": recon["mse"].mean(),
            }
            if "deviation_recon" in recon:
                row["decoded / real deviation"] = (
                    recon["deviation_recon"].mean() / recon["deviation_real"].mean()
                )
        if "ground_truth_summary.tsv" in files:
            truth = pd.read_csv(files["ground_truth_summary.tsv"], sep="\t")
            held_out = truth[truth["scans"] == "held-out"] if "scans" in truth else truth.iloc[:0]
            if len(held_out):
                row["counterfactual abs. error (pp)"] = held_out["mean_abs_error_pp"].mean()
        if "forecast.tsv" in files:
            forecast = pd.read_csv(files["forecast.tsv"], sep="\t")
            error = next(
                (c for c in ("abs_error_vs_truth_pp", "abs_error_vs_observed_pp") if c in forecast),
                None,
            )
            if error and "method" in forecast:
                by_method = forecast.groupby("method")[error].mean()
                best = by_method.drop("no_change", errors="ignore")
                if len(best):
                    row["forecast abs. error (pp), best"] = f"{best.min():.2f} ({best.idxmin()})"
                if "no_change" in by_method:
                    row["forecast abs. error (pp), no_change"] = by_method["no_change"]
        if "realism.tsv" in files:
            realism = pd.read_csv(files["realism.tsv"], sep="\t").set_index("structure")
            if "multivariate" in realism.index:
                row["samples: multivariate W1/SD"] = realism.at["multivariate", "w1_per_sd"]
        if len(row) > 1:
            rows.append(row)
    if not rows:
        return ""
    columns = [c for c in FAMILY_COLUMNS if any(c in r for r in rows)]
    return (
        "Held-out reconstruction (inside the brain mask), counterfactual and forecast errors "
        "against the truth (demo) or the observed change, and the realism of samples from the "
        "prior (errors and distances: lower is better). Decoded / real deviation: how much the "
        "reconstructions differ from their mean, relative to how much the scans do (about 1 "
        "when the model reproduces the differences between scans; near 0 when it decodes every "
        "scan to the same image):\n\n"
        + pd.DataFrame(rows, columns=columns)
        .round({c: 4 if c == "MSE" else 3 for c in columns})  # MSE is ~0.005 on the demo
        .to_markdown(index=False)
    )


def _forecast_comparison(inputs: Mapping[str, str | Sequence[str]]) -> str:
    """Every model's forecast.tsv side by side: mean absolute error (pp) of the predicted volume
    change per method and structure, against the truth where known, else the observed change."""
    tables = []
    for stage, paths in inputs.items():
        for path in [paths] if isinstance(paths, str) else paths:
            if Path(path).name == "forecast.tsv":
                table = pd.read_csv(path, sep="\t")
                if "method" in table:
                    tables.append(table.assign(model=stage.split(":")[0]))
    if not tables:
        return ""
    table = pd.concat(tables, ignore_index=True)
    error = (
        "abs_error_vs_truth_pp" if "abs_error_vs_truth_pp" in table else "abs_error_vs_observed_pp"
    )
    wide = table.pivot_table(
        index=["model", "method"], columns="structure", values=error, sort=False
    )
    note = "the true change" if error.endswith("truth_pp") else "the observed change"
    return f"|predicted - {note}| in percentage points, mean over the forecast subjects:\n\n" + (
        wide.round(2).reset_index().to_markdown(index=False)
    )


def _realism_comparison(inputs: Mapping[str, str | Sequence[str]]) -> str:
    """Every sampled model's realism.tsv side by side: the Wasserstein-1 distance of the samples'
    volumes from the real scans' in real SDs per structure and multivariate, with FID (fid.json)
    and the folding fraction of the deformations (jacobians.tsv, all samples) where there are."""
    rows = []
    for stage, paths in inputs.items():
        for path in [paths] if isinstance(paths, str) else paths:
            if Path(path).name != "realism.tsv":
                continue
            folder = Path(path).parent
            table = pd.read_csv(path, sep="\t")
            row = {"model": stage.split(":")[0], "reference": table["reference"].iloc[0]}
            row |= {
                f"{k} (W1/SD)": v
                for k, v in zip(table["structure"], table["w1_per_sd"], strict=True)
            }
            row["samples"] = int(table["n_generated"].iloc[0])
            fid = folder / "fid.json"
            if fid.is_file() and json.loads(fid.read_text())["fid"] is not None:
                row["FID"] = json.loads(fid.read_text())["fid"]
            jacobians = folder / "jacobians.tsv"
            if jacobians.is_file():
                jac = pd.read_csv(jacobians, sep="\t", dtype={"sample": str, "level": str})
                pooled = jac[jac["sample"] == "all"]
                if len(pooled):
                    last = pooled.iloc[-1]  # the composed transform, or the only level
                    row[f"folding ({last['level']})"] = last["folding_fraction"]
            rows.append(row)
    if not rows:
        return ""
    table = pd.DataFrame(rows).round(3)
    return (
        "Wasserstein-1 distance of the samples' regional volumes from the real scans' (in units "
        "of the real SD; 0 = same distribution), FID's formula on the configured feature network "
        "(empty without one) and the share of folded voxels of the deformations:\n\n"
        + table.to_markdown(index=False)
    )


def _describe_table(path: str | Path) -> str:
    """Mean, min and max of the numeric columns of a TSV, as a Markdown table."""
    table = pd.read_csv(path, sep="\t").select_dtypes("number")
    stats = table.agg(["mean", "min", "max"]).T.round(4)
    return stats.to_markdown()  # pandas uses `tabulate` (pinned) for Markdown


def _rel(path: str | Path, out_path: Path) -> str:
    return os.path.relpath(path, out_path.parent)
