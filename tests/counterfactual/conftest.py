"""A tiny trained model, its encoded chunk and a fitted SCM over six synthetic 4 mm scans."""

from __future__ import annotations

import pandas as pd
import pytest
from cf_cases import COVARIATES, IMAGE_PARENTS, SCANS
from vq_settings import TINY_MODEL, TINY_TRAIN

from latentcf.encode import encode_chunk
from latentcf.scm.fit import fit_latent_scm
from latentcf.train import TrainOutputs, train_model
from latentcf.train.synthetic import write_synthetic_dataset


@pytest.fixture(scope="package")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cf")
    images, masks = write_synthetic_dataset(root / "data", 6, 4, seed=5)
    out = TrainOutputs(root / "model.pt", root / "t.tsv", root / "t.png", root / "ck")
    train_model(images[:4], [], [], TINY_MODEL, {**TINY_TRAIN, "max_steps": 4}, 1, out)
    encode_chunk(out.model, SCANS, images, masks, root / "encode", TINY_MODEL, resolution_mm=4)
    cohort = pd.DataFrame(
        {
            "scan": SCANS,
            "participant_id": [s[:7] for s in SCANS],
            "session_id": "n/a",
            "path": [str(p.absolute()) for p in images],
            "split": ["train"] * 4 + ["val", "test"],
            "age": [60.0, 66.0, 72.0, 80.0, 70.0, 84.0],
            "sex": ["F", "M", "F", "M", "M", "F"],
            "diagnosis": ["CN", "AD", "CN", "AD", "CN", "AD"],
        }
    )
    cohort.to_csv(root / "cohort.tsv", sep="\t", index=False)
    scm = fit_latent_scm(cohort, [root / "encode"], "z", (4, 10, 12, 10), COVARIATES, IMAGE_PARENTS)
    scm.save(root / "design.json", root / "coefficients.npz")
    return {"root": root, "images": images, "model": out.model, "cohort": cohort, "scm": scm}
