"""Training is deterministic on CPU and resumes bit-identically after a SIGKILL."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import warnings

import pandas as pd
import pytest
import torch
from torch import nn
from vq_settings import TINY_KLAE, TINY_M3AE, TINY_MODEL, TINY_TRAIN

from latentcf.train import TrainOutputs, train_model


def _outputs(root):
    return TrainOutputs(
        root / "model.pt", root / "training.tsv", root / "training.png", root / "checkpoints"
    )


def _train(root, data, train_cfg=TINY_TRAIN, seed=7, model=TINY_MODEL):
    images, masks = data
    return train_model(
        images[:4],
        images[4:],
        masks[4:],
        model,
        train_cfg,
        seed,
        _outputs(root),
        threads=1,
    )


def _state(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _assert_identical(a, b):
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, f"tensors differ: {different[:5]}"


KILL_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    import latentcf.train.loop as loop
    from latentcf.train import TrainOutputs, train_model

    args = json.loads(sys.argv[1])
    real_save = loop.ckpt.save_checkpoint

    def save_then_die(folder, step, *rest, **kw):
        path = real_save(folder, step, *rest, **kw)
        if step == args["kill_at"]:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, like an OOM kill or a node failure
        return path

    loop.ckpt.save_checkpoint = save_then_die
    root = Path(args["root"])
    outputs = TrainOutputs(root / "model.pt", root / "training.tsv", root / "training.png", root / "checkpoints")
    train_model(args["images"][:4], args["images"][4:], args["masks"][4:], args["model"],
                args["train"], 7, outputs, threads=1)
    """
)


@pytest.mark.parametrize(
    "model", [TINY_MODEL, TINY_KLAE, TINY_M3AE], ids=["vqvae", "klae_adversary", "m3ae"]
)
def test_killed_then_resumed_run_is_bit_identical(tmp_path, synthetic_4mm, caplog, model):
    images, masks = synthetic_4mm
    reference = _train(tmp_path / "reference", synthetic_4mm, model=model)

    root = tmp_path / "killed"
    args = {
        "root": str(root),
        "images": [str(p) for p in images],
        "masks": [str(p) for p in masks],
        "model": model,
        "train": TINY_TRAIN,
        "kill_at": 4,
    }
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, json.dumps(args)], capture_output=True, text=True
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert not (root / "model.pt").exists()
    assert sorted(p.name[:12] for p in (root / "checkpoints").glob("*.pt")) == [
        "step-0000002",
        "step-0000004",
    ]

    with caplog.at_level(logging.INFO, logger="latentcf"):
        resumed = _train(root, synthetic_4mm, model=model)
    assert "resuming from step-0000004" in caplog.text
    _assert_identical(reference, resumed)
    if model["family"] == "klae":  # the discriminator trained before and after the kill
        state = _state(resumed)
        assert any(k.startswith("discriminator.") for k in state)
        checkpoint = torch.load(sorted((root / "checkpoints").glob("*.pt"))[-1], weights_only=True)
        assert checkpoint["adversary_optimizer"]["state"]
    ref_table = pd.read_csv(tmp_path / "reference" / "training.tsv", sep="\t").drop(
        columns="seconds"
    )
    res_table = pd.read_csv(root / "training.tsv", sep="\t").drop(columns="seconds")
    pd.testing.assert_frame_equal(ref_table, res_table)
    assert list(res_table["step"]) == list(range(1, TINY_TRAIN["max_steps"] + 1))
    if model["family"] == "klae":
        trained = res_table["step"] >= model["adversarial_start_step"]
        assert res_table.loc[trained, "adversary_loss"].notna().all()
        assert res_table.loc[~trained, "adversary_loss"].isna().all()
        assert res_table.loc[trained, "loss_adversarial"].notna().all()


def test_same_seed_same_weights_other_seed_differs(tmp_path, synthetic_4mm):
    a = _train(tmp_path / "a", synthetic_4mm)
    b = _train(tmp_path / "b", synthetic_4mm)
    c = _train(tmp_path / "c", synthetic_4mm, seed=8)
    _assert_identical(a, b)
    assert a.read_bytes() == b.read_bytes(), "same model, same file bytes (no random archive name)"
    sa, sc = _state(a), _state(c)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_checkpoint_of_another_config_is_not_resumed(tmp_path, synthetic_4mm, caplog):
    root = tmp_path / "run"
    _train(root, synthetic_4mm)
    changed = {**TINY_TRAIN, "learning_rate": 1e-3}
    with caplog.at_level(logging.INFO, logger="latentcf"):
        _train(root, synthetic_4mm, changed)
    assert "ignoring 2 checkpoint(s) from another configuration" in caplog.text
    assert "resuming" not in caplog.text
    table = pd.read_csv(root / "training.tsv", sep="\t")
    assert table["lr"].max() == 1e-3


def _scripted_features(path, seed):
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.trace(nn.Conv3d(1, 2, 3, padding=1), torch.rand(1, 1, 8, 8, 8))
        torch.jit.save(module, str(path))
    return str(path)


def test_replaced_perceptual_network_file_is_a_new_run(tmp_path, synthetic_4mm, caplog):
    """Same path, other weights: the checkpoints of the old file are not resumed from."""
    features = tmp_path / "features.pt"
    model = {**TINY_KLAE, "perceptual_network": _scripted_features(features, 0)}
    root = tmp_path / "run"
    _train(root, synthetic_4mm, model=model)
    with caplog.at_level(logging.INFO, logger="latentcf"):
        _train(root, synthetic_4mm, model=model)
    assert "resuming" in caplog.text
    caplog.clear()
    _scripted_features(features, 1)
    with caplog.at_level(logging.INFO, logger="latentcf"):
        _train(root, synthetic_4mm, model=model)
    assert "from another configuration" in caplog.text
    assert "resuming" not in caplog.text
