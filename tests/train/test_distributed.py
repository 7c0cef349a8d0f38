"""train.distributed: two gloo processes under torchrun train the weights of one process with the
same global batch (and write its table), resume from their checkpoints, and refuse a batch they
cannot share."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from vq_settings import TINY_BETAVAE, TINY_KLAE, TINY_MODEL, TINY_TRAIN

from latentcf.errors import ConfigError
from latentcf.models.base import build_model, model_settings
from latentcf.train import TrainOutputs, train_model
from latentcf.train.distributed import DistributedTrainingError
from latentcf.train.loop import seed_everything

SEED = 7
FAMILIES = {"vqvae": TINY_MODEL, "klae": TINY_KLAE, "betavae": TINY_BETAVAE}
# Buffers that are statistics, not weights (EMA codebook counts are compared through `embed`);
# on CPU, klae's discriminator batch norm sees each process's share of the batch (SyncBatchNorm
# needs GPUs), so only its autoencoder is compared.
NOT_COMPARED = ("quantiser.cluster_size", "quantiser.embed_avg", "discriminator")


def _train(root, data, model, processes, **train):
    images, masks = data
    outputs = TrainOutputs(
        root / "model.pt", root / "training.tsv", root / "training.png", root / "checkpoints"
    )
    config = {**TINY_TRAIN, "precision": "fp32", **train, "distributed": {"processes": processes}}
    train_model(images[:4], images[4:], masks[4:], model, config, SEED, outputs, threads=processes)
    return torch.load(root / "model.pt", weights_only=True)["state_dict"]


def _initial_weights(model):
    seed_everything(SEED)
    return build_model(model_settings(model), image_shape=(40, 48, 40)).state_dict()


def _compared(state):
    return {
        k: v for k, v in state.items() if v.is_floating_point() and not k.startswith(NOT_COMPARED)
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_two_processes_train_the_weights_of_one(synthetic_4mm, tmp_path, family):
    """Same global batch of 2 (1 scan per process), flips on. After 1 step every conv/linear
    weight and codebook agrees to float rounding; after 4 steps all weights differ by < 1 % of how far training
    moved them. Not exactly: sums run in another order, and AdamW divides by the gradient's running
    RMS, so rounding in a near-zero gradient (a conv bias before a group norm) becomes a step of
    ~lr (one process with 1 vs 2 threads differs the same way); a near-tie in a codebook's
    nearest-code search can flip."""
    model = FAMILIES[family]
    initial = _compared(_initial_weights(model))
    for steps in (1, 4):
        one, two = (
            _compared(
                _train(
                    tmp_path / f"{p}x{steps}",
                    synthetic_4mm,
                    model,
                    p,
                    max_steps=steps,
                    flip_augment=True,
                )
            )  # fmt: skip
            for p in (1, 2)
        )
        assert one.keys() == two.keys()
        if steps == 1:
            worst = max(
                (one[k] - two[k]).abs().max().item() for k in one if k.endswith(("weight", "embed"))
            )
            assert worst < 2e-6, f"{family}: after 1 step a weight differs by {worst:.2e}"
        # the codebook (k-means initialised) would dominate how far the weights moved
        trained = [k for k in one if not k.startswith("quantiser.")]
        diff = sum((one[k] - two[k]).double().pow(2).sum() for k in trained) ** 0.5
        moved = sum((one[k] - initial[k]).double().pow(2).sum() for k in trained) ** 0.5
        print(f"{family}, {steps} step(s): |two - one| = {diff:.2e}, moved {moved:.2e}")
        assert diff < 0.01 * moved, f"{family}, {steps} step(s): {diff:.2e} vs {moved:.2e}"
    # the table's losses are the global batch's (averaged over the processes)
    one, two = (pd.read_csv(tmp_path / f"{p}x{steps}" / "training.tsv", sep="\t") for p in (1, 2))
    for column in [c for c in one if c == "loss" or c.startswith(("loss_", "val_"))]:
        assert two[column].to_numpy() == pytest.approx(
            one[column].to_numpy(), rel=1e-3, nan_ok=True
        ), column


def test_a_distributed_run_resumes_from_its_checkpoint(synthetic_4mm, tmp_path):
    """Outputs removed, checkpoints kept (as after a crash at step 3): the rerun starts from the
    step-2 checkpoint and ends with the uninterrupted run's weights, bit for bit."""
    full = _train(tmp_path, synthetic_4mm, TINY_MODEL, 2, max_steps=4)
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*.pt"))
    assert checkpoints[-1].startswith("step-0000002-")
    first_table = pd.read_csv(tmp_path / "training.tsv", sep="\t")
    for name in ("model.pt", "training.tsv", "training.png"):
        (tmp_path / name).unlink()
    resumed = _train(tmp_path, synthetic_4mm, TINY_MODEL, 2, max_steps=4)
    assert [k for k in full if not torch.equal(full[k], resumed[k])] == []
    table = pd.read_csv(tmp_path / "training.tsv", sep="\t")
    assert list(table["step"]) == [1, 2, 3, 4]
    # steps 1-2 come from the checkpoint (their wall-clock seconds are the first run's)
    assert list(table["seconds"][:2]) == list(first_table["seconds"][:2])
    assert list(table["seconds"][2:]) != list(first_table["seconds"][2:])


def test_a_batch_the_processes_cannot_share_is_refused(synthetic_4mm, tmp_path):
    with pytest.raises(ConfigError, match=r"'train.batch_size'.*multiple of train.distributed"):
        _train(tmp_path, synthetic_4mm, TINY_MODEL, 2, batch_size=3)
    assert not (tmp_path / "model.pt").exists()
    assert not (tmp_path / "checkpoints").exists()


def test_a_process_error_reaches_the_user(synthetic_4mm, tmp_path, capfd):
    """A truncated train scan fails its process: the run stops with a project error and the
    process's message, naming the file, is in the output (the rule's log)."""
    images, masks = synthetic_4mm
    broken = tmp_path / "sub-broken_T1w.nii.gz"
    broken.write_bytes(images[1].read_bytes()[:2000])
    data = ([images[0], broken, *images[2:]], masks)
    with pytest.raises(DistributedTrainingError, match="torchrun exit status"):
        _train(tmp_path / "run", data, TINY_MODEL, 2)
    assert "sub-broken_T1w.nii.gz" in capfd.readouterr().err
    assert not (tmp_path / "run" / "model.pt").exists()
