"""Training writes the model, a complete training table and its plot; time budget stops early."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from image_checks import assert_figure_panels
from vq_settings import TINY_MODEL, TINY_TRAIN

from latentcf.config import ConfigValidationError
from latentcf.errors import ConfigError
from latentcf.models.checkpoint import load_model
from latentcf.train import TrainOutputs, train_model
from latentcf.train.data import batch_indices
from latentcf.train.loop import lr_factor, lr_scheduler, merged_train_config
from latentcf.train.table import LEADING, TRAILING


def _outputs(root):
    return TrainOutputs(root / "m.pt", root / "t.tsv", root / "t.png", root / "ck")


@pytest.mark.parametrize("levels", [1, 3])
def test_training_outputs(tmp_path, synthetic_4mm, levels):
    images, masks = synthetic_4mm
    out = _outputs(tmp_path)
    model_config = {**TINY_MODEL, "num_levels": levels}
    train_model(images[:4], images[4:], masks[4:], model_config, TINY_TRAIN, 1, out)
    model, meta = load_model(out.model, model_config)
    assert meta["steps"] == TINY_TRAIN["max_steps"] and meta["image_shape"] == [40, 48, 40]
    assert meta["latent_shapes"] == {"z": [4, 10, 12, 10]} and meta["scm_latent"] == "z"
    assert not model.training
    table = pd.read_csv(out.table, sep="\t", na_values="n/a")
    perplexities = [f"perplexity_l{i}" for i in range(levels)]
    assert list(table.columns) == LEADING + ["loss_l1", "loss_commitment"] + perplexities + [
        "codes_used",
        "dead_codes",
    ] + TRAILING  # fmt: skip
    assert list(table["step"]) == [1, 2, 3, 4, 5, 6]
    pd.testing.assert_series_equal(
        table["loss"], table["loss_l1"] + table["loss_commitment"], check_names=False, rtol=1e-4
    )
    evaluated = table.dropna(subset=["val_ssim"])
    assert list(evaluated["step"]) == [3, 6]
    assert evaluated["val_ssim"].between(-1, 1).all() and (evaluated["val_mae"] > 0).all()
    for col in perplexities:
        assert table[col].between(1, 64).all()
    assert_figure_panels(out.plot, rows=2, columns=2, size=(1000, 700))


def test_bad_model_config_fails_before_training(tmp_path, synthetic_4mm):
    images, masks = synthetic_4mm
    out = _outputs(tmp_path)
    with pytest.raises(ConfigError, match="res_units"):
        train_model(
            images[:4], images[4:], masks[4:], {**TINY_MODEL, "res_units": [1]}, TINY_TRAIN, 1, out
        )
    with pytest.raises(ConfigValidationError, match=r"'train': unknown key\(s\) \['bogus'\]"):
        train_model(images[:4], images[4:], masks[4:], TINY_MODEL, {"bogus": 1}, 1, out)
    assert not out.model.exists() and not out.checkpoint_dir.exists()


def test_time_budget_stops_training(tmp_path, synthetic_4mm):
    images, _ = synthetic_4mm
    out = _outputs(tmp_path)
    cfg = {**TINY_TRAIN, "max_steps": 10_000, "max_minutes": 0.02}  # 1.2 s
    train_model(images[:4], [], [], TINY_MODEL, cfg, 1, out)
    steps = len(pd.read_csv(out.table, sep="\t"))
    assert 1 <= steps < 10_000


def test_batch_order_is_a_seeded_shuffle_per_epoch():
    n, b = 5, 2
    order = [i for step in range(5) for i in batch_indices(step, n, b, seed=1)]  # 2 epochs
    assert sorted(order[:5]) == list(range(5)) and sorted(order[5:]) == list(range(5))
    assert order == [i for step in range(5) for i in batch_indices(step, n, b, seed=1)]
    assert order != [i for step in range(5) for i in batch_indices(step, n, b, seed=2)]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("cosine", {1: 0.1, 5: 0.5, 10: 1.0, 55: 0.55, 100: 0.1}),
        ("constant", {1: 0.1, 5: 0.5, 10: 1.0, 55: 1.0, 100: 1.0}),
    ],
)
def test_learning_rate_schedule(schedule, expected):
    cfg = merged_train_config(
        {"max_steps": 100, "warmup_steps": 10, "learning_rate": 2.0, "lr_schedule": schedule}
    )
    optimiser = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg["learning_rate"])
    scheduler = lr_scheduler(optimiser, cfg)
    seen = {}
    for step in range(1, 101):
        seen[step] = optimiser.param_groups[0]["lr"]  # the lr optimiser step `step` uses
        optimiser.step()
        scheduler.step()
    for step, factor in expected.items():
        assert seen[step] == pytest.approx(2.0 * factor), step
        assert lr_factor(step, cfg) == pytest.approx(factor)
    assert all(seen[s] >= seen[s + 1] for s in range(10, 100))


def test_rng_capture_restore_round_trip():
    import random

    import numpy as np

    from latentcf.train.checkpoints import capture_rng, restore_rng

    state = capture_rng()
    a = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
