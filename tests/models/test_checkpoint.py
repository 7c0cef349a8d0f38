"""Model files load with weights_only=True; a wrong file or architecture fails with a clear message."""

from __future__ import annotations

import pytest
import torch
from vq_settings import TINY_MODEL

from latentcf.errors import InputDataError
from latentcf.models.base import build_model
from latentcf.models.checkpoint import load_model, save_model


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY_MODEL)
    model.training_loss(torch.rand(1, 1, 40, 48, 40), 1)  # initialise the codebook
    path = save_model(tmp_path / "model.pt", model, TINY_MODEL, {"image_shape": [40, 48, 40]})
    return model, path


def test_round_trip(saved):
    model, path = saved
    loaded, meta = load_model(path, TINY_MODEL)
    assert meta == {"image_shape": [40, 48, 40]}
    a, b = model.state_dict(), loaded.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Plain torch can read it in safe mode too.
    assert torch.load(path, weights_only=True)["family"] == "vqvae"


def test_different_config_is_named(saved):
    _, path = saved
    other = {**TINY_MODEL, "latent_channels": 8}
    with pytest.raises(
        InputDataError, match=r"latent_channels: file has 4, config has 8.*forcerun train"
    ):
        load_model(path, other)


def test_tampered_weights_give_a_message_not_a_traceback(saved, tmp_path):
    _, path = saved
    payload = torch.load(path, weights_only=True)
    payload["model_config"] = {
        **payload["model_config"],
        "channels": [8, 32],
    }  # another architecture
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(InputDataError, match="architecture fingerprint"):
        load_model(tmp_path / "bad.pt")
    payload = torch.load(path, weights_only=True)
    key = next(iter(payload["state_dict"]))
    payload["state_dict"][key] = torch.zeros(3)
    payload["fingerprint"] = build_fingerprint(payload)
    torch.save(payload, tmp_path / "bad2.pt")
    with pytest.raises(InputDataError, match="do not fit the architecture"):
        load_model(tmp_path / "bad2.pt")


def build_fingerprint(payload):
    from latentcf.models.checkpoint import architecture_fingerprint

    return architecture_fingerprint(build_model(payload["model_config"]), payload["model_config"])


class Evil:
    pass


def test_unsafe_or_broken_files_are_refused(tmp_path):
    torch.save({"format": "latentcf-model", "obj": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(InputDataError, match="not a loadable model file"):
        load_model(tmp_path / "evil.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputDataError, match="not a loadable model file"):
        load_model(tmp_path / "junk.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(InputDataError, match="not a latentcf model file"):
        load_model(tmp_path / "other.pt")
    with pytest.raises(InputDataError, match="not found"):
        load_model(tmp_path / "missing.pt")
