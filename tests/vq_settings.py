"""Tiny model/training settings shared by the models and train tests."""

# A tiny klae: one downsampling, no full-resolution residual blocks, a discriminator small enough
# for 16-voxel axes (<= 2 layers) that trains from step 3.
TINY_KLAE = {
    "family": "klae",
    "channels": [8, 16],
    "num_res_blocks": [0, 1],
    "latent_channels": 4,
    "norm_num_groups": 8,
    "discriminator_channels": 8,
    "discriminator_layers": 2,
    "adversarial_start_step": 3,
}

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

# Tiny vector-latent models for the 4 mm grid (40x48x40 -> 5x6x5 after three downsamplings).
TINY_BETAVAE = {
    "family": "betavae",
    "channels": [4, 8, 8],
    "decoder_channels": [8, 8, 4],
    "bottleneck_channels": 4,
    "latent_dim": 16,
    "norm_num_groups": 4,
    "kl_warmup_steps": 4,
}
TINY_M3AE = {**TINY_BETAVAE, "family": "m3ae", "deformation_latent_dim": 8}
