"""Images drawn from a model's prior, and how real they look (families with a prior: m3ae, betavae).

Three stages per such model, one module each:

- :mod:`latentcf.sample.draw`: draw ``sample.n`` images from the prior with a seeded
  torch.Generator and write them on the model grid; for families that warp (a
  ``deformation_fields`` method) also the Jacobian statistics of their deformations
  (:mod:`latentcf.sample.deformations`).
- :mod:`latentcf.sample.segment`: segment the samples with the backend and settings of the real scans.
- :mod:`latentcf.sample.realism`: regional-volume distances to the real held-out scans, the
  optional FID on a local feature network, a figure of samples next to real scans.
"""
