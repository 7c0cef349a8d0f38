"""Latent autoencoders behind one interface (:class:`LatentAutoencoder`) and a family registry.

>>> model = build_model("vqvae", config["model"]["vqvae"])
>>> z = model.encode(x); q = model.quantise(z); x_hat = model.decode(q.z_q)
"""

from latentcf.models.base import (
    ForwardResult,
    LatentAutoencoder,
    QuantiseResult,
    available_families,
    build_model,
    register_family,
)
from latentcf.models.checkpoint import load_model, save_model

__all__ = [
    "ForwardResult",
    "LatentAutoencoder",
    "QuantiseResult",
    "available_families",
    "build_model",
    "load_model",
    "register_family",
    "save_model",
]
