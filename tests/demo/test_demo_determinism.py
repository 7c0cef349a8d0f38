"""Same seed -> same cohort; subjects do not depend on how many there are; the factual
dataset does not depend on the interventions, nor an image on which others are rendered."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from latentcf.demo import simulate_demo, simulate_demo_counterfactuals, simulate_volumes
from latentcf.demo.simulate import simulate

DEMO = {"resolution_mm": 4, "field_spacing_mm": 4}
IVS = [{"name": "age10", "shift": {"age": 10}}]
OTHER_IVS = [
    {"name": "dxAD", "set": {"diagnosis": "AD"}},
    {"name": "age10", "shift": {"age": 10}},
    {"name": "male", "set": {"sex": "M"}},
]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_volumes_are_deterministic_and_prefix_stable():
    a = simulate_volumes({**DEMO, "n_subjects": 3}, IVS, 7)
    b = simulate_volumes({**DEMO, "n_subjects": 3}, IVS, 7)
    pd.testing.assert_frame_equal(a, b)
    two = simulate_volumes({**DEMO, "n_subjects": 2}, IVS, 7)
    pd.testing.assert_frame_equal(two, a.iloc[: len(two)])
    other = simulate_volumes({**DEMO, "n_subjects": 3}, IVS, 8)
    assert not np.allclose(other["hippocampus"], a["hippocampus"])


def test_images_are_deterministic():
    first = [t.image for t in simulate({**DEMO, "n_subjects": 2}, IVS, 11)]
    second = [t.image for t in simulate({**DEMO, "n_subjects": 2}, IVS, 11)]
    assert len(first) == 4
    for x, y in zip(first, second, strict=True):
        assert x.dtype == np.int16 and np.array_equal(x, y)


def test_render_selects_the_images_not_their_values():
    demo = {**DEMO, "n_subjects": 2}
    ivs = [*IVS, {"name": "age0", "shift": {"age": 0}}]
    every = list(simulate(demo, ivs, 11))
    for render in ("factual", "counterfactual", "none"):
        some = list(simulate(demo, ivs, 11, render=render))
        assert len(some) == len(every) == 6
        for a, b in zip(every, some, strict=True):
            assert (a.intervention, a.covariates, a.volumes, a.exogenous) == (
                b.intervention,
                b.covariates,
                b.volumes,
                b.exogenous,
            )
            factual = a.intervention == "factual"
            if render == "none" or factual != (render == "factual"):
                assert b.image is None and b.labels is None
            else:
                assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    with pytest.raises(ValueError, match="render must be one of"):
        next(simulate(demo, ivs, 11, render="cf"))


def test_written_files_are_byte_identical(tmp_path):
    # The schema's smallest cohort: 2 subjects.
    demo = {**DEMO, "n_subjects": 2}
    for run in ("a", "b"):
        simulate_demo(tmp_path / run / "bids", demo, 5)
        simulate_demo_counterfactuals(tmp_path / run / "cf", demo, IVS, 5)
    for folder in ("bids", "cf"):
        a, b = _files(tmp_path / "a" / folder), _files(tmp_path / "b" / folder)
        assert sorted(a) == sorted(b)
        assert any(rel.endswith("_T1w.nii.gz") for rel in a)
        for rel in a:
            assert a[rel] == b[rel], (folder, rel)
    assert not list(tmp_path.glob("a/.bids.tmp-*")) and not list(tmp_path.glob("a/.cf.tmp-*"))


def test_factual_dataset_does_not_depend_on_the_interventions(tmp_path):
    """The factual images simulated with any intervention list are those simulate_demo writes;
    two lists of interventions give the same factual rows, and the same counterfactual where
    they share an intervention."""
    demo = {**DEMO, "n_subjects": 2}
    bids = _files(simulate_demo(tmp_path / "bids", demo, 5))
    for ivs in (IVS, OTHER_IVS):
        factual = [t for t in simulate(demo, ivs, 5, render="factual") if t.image is not None]
        assert len(factual) == 2
        for t in factual:
            stem = f"{t.participant_id}/{t.session_id}/anat/{t.participant_id}_{t.session_id}"
            written = nib.load(tmp_path / "bids" / f"{stem}_T1w.nii.gz")
            assert np.array_equal(np.asarray(written.dataobj), t.image)
            assert np.allclose(written.affine, t.affine, atol=1e-4)  # stored as float32
    assert simulate_demo(tmp_path / "again", demo, 5) and _files(tmp_path / "again") == bids
    one = simulate_demo_counterfactuals(tmp_path / "one", demo, IVS, 5)
    three = simulate_demo_counterfactuals(tmp_path / "three", demo, OTHER_IVS, 5)
    a, b = (pd.read_csv(p / "volumes.tsv", sep="\t") for p in (one, three))
    pd.testing.assert_frame_equal(
        a[a["intervention"] == "factual"].reset_index(drop=True),
        b[b["intervention"] == "factual"].reset_index(drop=True),
    )
    shared = sorted(p.relative_to(one) for p in one.rglob("*_cf-age10_*.nii.gz"))
    assert len(shared) == 4
    for rel in shared:
        assert (one / rel).read_bytes() == (three / rel).read_bytes(), rel
    assert len(list(three.rglob("*.nii.gz"))) == 2 * 2 * len(OTHER_IVS)


def test_no_interventions_writes_the_tables_only(tmp_path):
    demo = {**DEMO, "n_subjects": 2}
    bids = simulate_demo(tmp_path / "bids", demo, 5)
    cf = simulate_demo_counterfactuals(tmp_path / "cf", demo, [], 5)
    assert not list(cf.rglob("*.nii.gz"))
    assert (cf / "dataset_description.json").is_file()
    truth = bids / "derivatives" / "truth"
    assert (cf / "volumes.tsv").read_bytes() == (truth / "volumes.tsv").read_bytes()


def test_session_range_draws_per_subject_and_keeps_subject_draws():
    ranged = simulate_volumes({**DEMO, "n_subjects": 8, "sessions_per_subject": [2, 4]}, IVS, 7)
    factual = ranged[ranged["intervention"] == "factual"]
    counts = factual.groupby("participant_id")["session_id"].nunique()
    assert counts.between(2, 4).all() and counts.nunique() > 1, counts.to_dict()
    # Sessions of a subject are years_between_sessions apart (default 2 years).
    ages = factual.groupby("participant_id")["age"].apply(lambda a: np.diff(a.to_numpy()))
    assert all(np.allclose(d, 2.0, atol=0.011) for d in ages), ages.to_dict()
    # The count comes from its own stream: each subject's first session is the same as with
    # a fixed count, and adding subjects does not change existing ones.
    fixed = simulate_volumes({**DEMO, "n_subjects": 8, "sessions_per_subject": 1}, IVS, 7)
    first = factual[factual["session_id"] == "ses-01"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        first, fixed[fixed["intervention"] == "factual"].reset_index(drop=True)
    )
    more = simulate_volumes({**DEMO, "n_subjects": 9, "sessions_per_subject": [2, 4]}, IVS, 7)
    pd.testing.assert_frame_equal(more.iloc[: len(ranged)], ranged)
