"""Latent autoencoders behind one interface and a family registry.

- :mod:`latentcf.models.base`: :class:`~latentcf.models.base.LatentAutoencoder` (encode to named
  latents, decode, per-family training objective, optional prior) and ``build_model``.
- :mod:`latentcf.models.checkpoint`: model files (save atomically, load with weights_only=True).
- one module per family (:mod:`latentcf.models.vqvae`), and :mod:`latentcf.models.settings`
  (torch-free checks run when the config is loaded).

>>> model = build_model({"family": "vqvae", "num_levels": 1})
>>> latent = model.encode(x); x_hat = model.decode(latent)

Import from the submodules: this file stays empty so that importing
``latentcf.models.settings`` at workflow parse time does not load torch.
"""
