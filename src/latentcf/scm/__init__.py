"""The latent structural causal model.

- :mod:`~latentcf.scm.graph`: the causal graph among covariates and the image (config checks).
- :mod:`~latentcf.scm.design`: the design matrix P (standardised numerics, one-hot levels, extra terms).
- :mod:`~latentcf.scm.glm`: the closed-form GLM from streamed normal equations, design checks.
- :mod:`~latentcf.scm.mechanisms`: the covariates' own mechanisms and counterfactual covariates.
- :mod:`~latentcf.scm.fit`, :mod:`~latentcf.scm.fitted`, :mod:`~latentcf.scm.effects`: the fit_scm
  stage, its saved result, and its figures (R^2 map, population effect maps).
"""
