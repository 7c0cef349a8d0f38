"""Longitudinal forecasts in latent space (MRExtrap: linear extrapolation, with a population prior).

- :mod:`~latentcf.forecast.lines`: OLS lines latent ~ age, one subject or many at once.
- :mod:`~latentcf.forecast.prior`: the population slope prior (beta_pop, tau^2, sigma^2) by the
  method of moments over the train subjects' own fits.
- :mod:`~latentcf.forecast.shrinkage`: a subject's slope shrunk towards the population slope.
- :mod:`~latentcf.forecast.scm_slope`: the population slope from the latent SCM, per year.
- :mod:`~latentcf.forecast.population`: the cross-sectional line over all train scans.
- :mod:`~latentcf.forecast.tasks`, :mod:`~latentcf.forecast.methods`: which scans each method uses,
  and its forecast latent.
- :mod:`~latentcf.forecast.tables`, :mod:`~latentcf.forecast.stage`: the forecast rule's tables and
  the rule itself.
"""
