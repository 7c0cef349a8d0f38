"""The demo's structural causal model: exogenous variables, covariates and atrophy targets.

Structural equations (defaults in workflow/schemas/demo.schema.yaml, documented in docs/demo_cohort.md):
  sex       = M if U_sex < male_fraction else F
  age_j     = age0 + j * years_between_sessions             (session j = 0 .. n_sessions - 1)
  diagnosis = AD if U_dx < sigmoid(b0 + b1 * (age - reference_age)) else CN
  scale     = head_scale[sex] * exp(N_head)                 (linear head size)
  log(V_k / V_k,template) = m_k * log(1 + rate_k) * (age - reference_age)
                            + log(1 + ad_k) * [diagnosis == AD]   (+ subject anatomy)
Every exogenous variable is drawn from a numpy Generator seeded by (seed, subject index[, ...]),
so adding subjects never changes existing ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from latentcf.demo.anatomy import STRUCTURE_GROUPS

# Independent random streams per subject.
STREAM_SUBJECT, STREAM_ANATOMY, STREAM_SESSION, STREAM_SESSION_COUNT = 0, 1, 2, 3


def subject_rng(seed: int, subject: int, stream: int, *extra: int) -> np.random.Generator:
    """Generator for one subject (and stream/session); independent of the other subjects."""
    return np.random.default_rng([int(seed), int(subject), stream, *extra])


@dataclass(frozen=True)
class SubjectExogenous:
    """Subject-level exogenous variables (fixed across sessions and counterfactuals)."""

    u_sex: float
    age0: float  # baseline age, years
    u_dx: float  # diagnosis noise in (0, 1)
    head_noise: float  # N_head, log scale
    rate_multipliers: dict[str, float]  # m_k per structure group, mean 1


def sample_subject(cfg: dict[str, Any], seed: int, subject: int) -> SubjectExogenous:
    """Draw the subject-level exogenous variables (order of draws is fixed)."""
    rng = subject_rng(seed, subject, STREAM_SUBJECT)
    u_sex, u_age, u_dx = rng.random(3)
    lo, hi = cfg["age_range"]
    head_noise = float(rng.normal(0.0, cfg["head_scale"]["sd"]))
    sd = float(cfg["rate_multiplier_sd"])
    z = rng.standard_normal(len(STRUCTURE_GROUPS))
    multipliers = {
        g: float(np.exp(sd * zi - sd**2 / 2)) for g, zi in zip(STRUCTURE_GROUPS, z, strict=True)
    }
    return SubjectExogenous(
        u_sex=float(u_sex),
        age0=float(lo + (hi - lo) * u_age),
        u_dx=float(u_dx),
        head_noise=head_noise,
        rate_multipliers=multipliers,
    )


def session_count(cfg: dict[str, Any], seed: int, subject: int) -> int:
    """Number of sessions of `subject`: demo.sessions_per_subject, or a uniform draw from its
    [min, max] (own stream, so the other draws and subjects do not change)."""
    n = cfg["sessions_per_subject"]
    if isinstance(n, int):
        return n
    lo, hi = sorted(int(v) for v in n)
    return int(subject_rng(seed, subject, STREAM_SESSION_COUNT).integers(lo, hi + 1))


def factual_covariates(cfg: dict[str, Any], exo: SubjectExogenous, session: int) -> dict[str, Any]:
    """Covariates of session `session` (0-based): age (years), sex, diagnosis."""
    sex = "M" if exo.u_sex < cfg["male_fraction"] else "F"
    age = round(exo.age0 + session * float(cfg["years_between_sessions"]), 2)
    return {"age": age, "sex": sex, "diagnosis": diagnosis_of(cfg, exo, age)}


def p_ad(cfg: dict[str, Any], age: float) -> float:
    """P(diagnosis = AD | age) of the logistic model."""
    d = cfg["diagnosis"]
    return 1.0 / (
        1.0
        + math.exp(-(d["logit_intercept"] + d["logit_age_slope"] * (age - cfg["reference_age"])))
    )


def diagnosis_of(cfg: dict[str, Any], exo: SubjectExogenous, age: float) -> str:
    """Diagnosis mechanism; the same U_dx across sessions means CN -> AD conversion only."""
    return "AD" if exo.u_dx < p_ad(cfg, age) else "CN"


def head_scale(cfg: dict[str, Any], exo: SubjectExogenous, sex: str) -> float:
    """Linear head-size factor applied about the template origin."""
    return float(cfg["head_scale"][sex]) * math.exp(exo.head_noise)


def target_log_change(
    cfg: dict[str, Any], exo: SubjectExogenous, covariates: dict[str, Any]
) -> dict[str, float]:
    """Target log volume change of each structure group relative to the (subject's) template."""
    out = {}
    dt = float(covariates["age"]) - float(cfg["reference_age"])
    is_ad = covariates["diagnosis"] == "AD"
    for group in STRUCTURE_GROUPS:
        p = cfg["atrophy"][group]
        age_part = exo.rate_multipliers[group] * math.log1p(p["age_rate"]) * dt
        out[group] = age_part + (math.log1p(p["ad_effect"]) if is_ad else 0.0)
    return out
