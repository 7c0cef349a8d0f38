"""Same seed -> same cohort; subjects do not depend on how many there are."""

from __future__ import annotations

import numpy as np
import pandas as pd

from latentcf.demo import simulate_demo, simulate_volumes
from latentcf.demo.simulate import simulate

DEMO = {"resolution_mm": 4, "field_spacing_mm": 4}
IVS = [{"name": "age10", "shift": {"age": 10}}]


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


def test_written_files_are_byte_identical(tmp_path):
    # The schema's smallest cohort: 2 subjects.
    a = simulate_demo(tmp_path / "a" / "bids", {**DEMO, "n_subjects": 2}, IVS, 5)
    b = simulate_demo(tmp_path / "b" / "bids", {**DEMO, "n_subjects": 2}, IVS, 5)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert any(str(f).endswith("_T1w.nii.gz") for f in files)
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert not list(tmp_path.glob("a/.bids.tmp-*"))  # the temporary folder is gone
