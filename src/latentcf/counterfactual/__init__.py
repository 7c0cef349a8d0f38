"""Counterfactual images (abduction, action, prediction in latent space) and their montage.

- :mod:`~latentcf.counterfactual.generate`: one chunk of scans, all interventions.
- :mod:`~latentcf.counterfactual.figures`: factual | reconstruction | counterfactuals | differences.
"""
