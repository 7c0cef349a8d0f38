"""Training writes the model, a complete training table and its plot; time budget stops early."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from vq_settings import TINY_MODEL, TINY_TRAIN

from latentcf.errors import ConfigError
from latentcf.models import load_model
from latentcf.train import TrainOutputs, train_model
from latentcf.train.data import batch_indices
from latentcf.train.loop import learning_rate, merged_train_config
from latentcf.train.table import COLUMNS


def test_training_outputs(tmp_path, synthetic_4mm):
    images, masks = synthetic_4mm
    out = TrainOutputs(tmp_path / "m.pt", tmp_path / "t.tsv", tmp_path / "t.png", tmp_path / "ck")
    train_model(images[:4], images[4:], masks[4:], "vqvae", TINY_MODEL, TINY_TRAIN, 1, out)
    model, meta = load_model(out.model, "vqvae", TINY_MODEL)
    assert meta["steps"] == TINY_TRAIN["max_steps"] and meta["image_shape"] == [40, 48, 40]
    assert not model.training
    table = pd.read_csv(out.table, sep="\t", na_values="n/a")
    assert list(table.columns) == COLUMNS
    assert list(table["step"]) == [1, 2, 3, 4, 5, 6]
    evaluated = table.dropna(subset=["val_ssim"])
    assert list(evaluated["step"]) == [3, 6]
    assert evaluated["val_ssim"].between(-1, 1).all() and (evaluated["val_mae"] > 0).all()
    assert (table["perplexity_l0"] >= 1).all() and (table["perplexity_l0"] <= 64).all()
    assert out.plot.stat().st_size > 10_000
    with pytest.raises(ConfigError, match="res_units"):
        train_model(
            images[:4],
            images[4:],
            masks[4:],
            "vqvae",
            {**TINY_MODEL, "res_units": [1]},
            TINY_TRAIN,
            1,
            out,
        )


def test_time_budget_stops_training(tmp_path, synthetic_4mm):
    images, masks = synthetic_4mm
    out = TrainOutputs(tmp_path / "m.pt", tmp_path / "t.tsv", tmp_path / "t.png", tmp_path / "ck")
    cfg = {**TINY_TRAIN, "max_steps": 10_000, "max_minutes": 0.02}  # 1.2 s
    train_model(images[:4], [], [], "vqvae", TINY_MODEL, cfg, 1, out)
    steps = len(pd.read_csv(out.table, sep="\t"))
    assert 1 <= steps < 10_000


def test_batch_order_is_a_seeded_shuffle_per_epoch():
    n, b = 5, 2
    order = [i for step in range(5) for i in batch_indices(step, n, b, seed=1)]  # 2 epochs
    assert sorted(order[:5]) == list(range(5)) and sorted(order[5:]) == list(range(5))
    assert order == [i for step in range(5) for i in batch_indices(step, n, b, seed=1)]
    assert order != [i for step in range(5) for i in batch_indices(step, n, b, seed=2)]


def test_learning_rate_schedule():
    cfg = merged_train_config({"max_steps": 100, "warmup_steps": 10, "learning_rate": 1.0})
    assert learning_rate(5, cfg) == pytest.approx(0.5)
    assert learning_rate(10, cfg) == pytest.approx(1.0)
    assert learning_rate(100, cfg) == pytest.approx(0.1)
    assert all(learning_rate(s, cfg) >= learning_rate(s + 1, cfg) for s in range(10, 100))
    with pytest.raises(ConfigError, match="train.bogus"):
        merged_train_config({"bogus": 1})
    assert math.isclose(
        learning_rate(50, merged_train_config({"lr_schedule": "constant", "learning_rate": 2.0})),
        2.0,
    )


def test_rng_capture_restore_round_trip():
    import random

    import numpy as np

    from latentcf.train.checkpoints import capture_rng, restore_rng

    state = capture_rng()
    a = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
