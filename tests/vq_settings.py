"""Tiny model/training settings shared by the models and train tests."""

TINY_MODEL = {
    "family": "vqvae",
    "channels": [8, 16],
    "res_units": [1, 1],
    "latent_channels": 4,
    "codebook_size": 64,
}
TINY_TRAIN = {
    "max_steps": 6,
    "batch_size": 2,
    "warmup_steps": 2,
    "eval_every": 3,
    "val_max_scans": 2,
    "checkpoint_every": 2,
    "keep_checkpoints": 2,
    "device": "cpu",
}
