"""Changing the cohort on the real DAG: what a new subject reruns.

The cohort comes from the `ingest` checkpoint, so a dry run shows a new subject's jobs only once
ingest has rerun: the test runs ingest for real, then reads the dry-run plan.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from latentcf.chunks import chunk_label, chunk_of
from latentcf.cohort import BASE_COLUMNS, assign_splits, scan_stem

from .snakemake_runner import TINY, planned_job_list, run_snakemake

pytestmark = pytest.mark.workflow
MODELS = ("klae", "vqvae")  # config_tiny.yaml
#: Cohort-level stages of each model: they read the cohort table or every chunk.
MODEL_COHORT_STAGES = (
    "summarise_reconstructions", "fit_scm", "forecast", "measure_forecasts",
    "plot_counterfactuals", "evaluate",
)  # fmt: skip


def held_out_newcomer(cohort: pd.DataFrame, config: dict) -> tuple[str, str]:
    """(participant id, split) of the first new subject id the split puts in val or test without
    moving any existing subject to another split (latentcf.cohort.split)."""
    split = config["split"]
    old = dict(zip(cohort["participant_id"], cohort["split"], strict=False))
    for number in range(len(old) + 1, 1000):
        pid = f"sub-{number:03d}"
        new = assign_splits(
            [*old, pid], config["seed"], split["val_fraction"], split["test_fraction"]
        )
        if new[pid] != "train" and all(new[p] == s for p, s in old.items()):
            return pid, new[pid]
    raise AssertionError("no subject id lands in a held-out split")


def test_new_held_out_subject_reruns_its_scan_its_chunk_and_the_cohort_stages(tiny_run, tmp_path):
    """A user adds one subject to the input table: its scan is preprocessed, the chunk that holds
    it is encoded and segmented again, and the cohort-level stages rerun. Nothing else of the
    other subjects' per-scan or per-chunk work reruns, and training does not (the subject is held
    out), except the counterfactuals (and their segmentation) of every chunk: they depend on the
    SCM fit, a cohort-level stage (it reads the cohort table and the training latents of the
    re-encoded chunk)."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    cohort = pd.read_csv(workdir / "results" / "cohort" / "cohort.tsv", sep="\t")
    covariates = [c for c in cohort.columns if c not in BASE_COLUMNS]
    # The run's own input as a table. The paths are the ones the run recorded (those of the
    # tiny run, not of this copy): a scan at another path is another input file to Snakemake,
    # which would rerun every scan's preprocessing.
    table = cohort[["participant_id", "session_id", "path", *covariates]]
    table.to_csv(tmp_path / "scans.tsv", sep="\t", index=False)
    config = yaml.safe_load(TINY.read_text())
    config.pop("demo")
    config["input"] = {"table": str(tmp_path / "scans.tsv")}
    path = tmp_path / "table.yaml"
    path.write_text(yaml.safe_dump(config))
    run_snakemake(workdir, path, "--until", "ingest")
    # The same cohort from another input: only the evaluation (its demo ground truth is gone).
    assert planned_job_list(workdir, path) == [
        ("all", ""), ("evaluate", "model=klae"), ("evaluate", "model=vqvae"), ("summary", "")
    ]  # fmt: skip

    pid, split = held_out_newcomer(cohort, config)
    donor = cohort.iloc[0]
    raw = tmp_path / f"{pid}_ses-01_T1w.nii.gz"
    shutil.copyfile(donor["path"], raw)
    new_row = {"participant_id": pid, "session_id": "ses-01", "path": str(raw)}
    new_row.update({name: donor[name] for name in covariates})
    pd.concat([table, pd.DataFrame([new_row])]).to_csv(
        tmp_path / "scans.tsv", sep="\t", index=False
    )
    run_snakemake(workdir, path, "--until", "ingest")
    after = pd.read_csv(workdir / "results" / "cohort" / "cohort.tsv", sep="\t")
    assert after.set_index("participant_id")["split"].to_dict() == {
        **dict(zip(cohort["participant_id"], cohort["split"], strict=False)),
        pid: split,
    }

    scan = scan_stem(pid, "ses-01")
    chunk = chunk_label(chunk_of(pid, config["chunks"]))
    chunks = {p.name.removeprefix("chunk-") for p in (workdir / "results" / "segment").iterdir()}
    expected = [
        ("all", ""), ("preprocess_qc", ""), ("summary", ""),
        *[(rule, f"scan={scan}") for rule in ("preprocess_native", "preprocess_register")],
        ("preprocess_grid", f"scan={scan}"), ("segment_scans", f"chunk={chunk}"),
        ("measure_observed_changes", ""),
    ]  # fmt: skip
    for model in MODELS:
        expected.append(("encode", f"model={model}, chunk={chunk}"))
        expected += [(rule, f"model={model}") for rule in MODEL_COHORT_STAGES]
        for c in sorted(chunks | {chunk}):
            expected.append(("counterfactual", f"model={model}, chunk={c}"))
            expected.append(("segment_counterfactuals", f"model={model}, chunk={c}"))
    jobs = planned_job_list(workdir, path)
    assert jobs == sorted(expected)
    assert not [job for job in jobs if job[0] == "train"]  # (implied above) held out: no training
