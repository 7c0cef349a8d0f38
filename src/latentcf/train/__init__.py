"""Training of the latent autoencoders (loop, data order, checkpoints, training table)."""

from latentcf.train.loop import DEFAULTS, TrainOutputs, train_model

__all__ = ["DEFAULTS", "TrainOutputs", "train_model"]
