"""Training of the latent autoencoders (loop, data order, checkpoints, training table)."""

from latentcf.train.loop import TrainOutputs, train_model

__all__ = ["TrainOutputs", "train_model"]
