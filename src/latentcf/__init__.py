"""latentcf: counterfactual 3D brain MRI in the latent space of a learned autoencoder."""

__version__ = "0.1.0"
