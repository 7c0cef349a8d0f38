"""Simulate the demo cohort: per subject and session the factual scan and one true
counterfactual per intervention, all sharing the same exogenous variables (the factual
dataset and the true counterfactuals are written by two rules: latentcf.demo).

One scan = template -> atrophy map A (covariates) -> subject anatomy map psi (exogenous)
-> head scale (sex) -> rigid pose (session); the image is ONE resampling of the template
through the inverse of the composed map, on the session's field of view.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from latentcf.demo import causal, render
from latentcf.demo.anatomy import FS_NAMES, STRUCTURE_GROUPS, load_anatomy
from latentcf.demo.atrophy import DeformationModel, compose_maps
from latentcf.demo.fields import exp_velocity, smooth_random_velocity
from latentcf.demo.settings import demo_interventions, merge_defaults
from latentcf.interventions import FACTUAL, Intervention

log = logging.getLogger(__name__)

# Label ids that are fluid, excluded from brain-tissue volume.
_FLUID_IDS = (4, 5, 14, 15, 24, 43, 44)


@dataclass
class ScanTruth:
    """One simulated image (factual or counterfactual) and its ground truth."""

    participant_id: str
    session_id: str
    intervention: str  # "factual" or the intervention name
    covariates: dict[str, Any]
    volumes: dict[str, float]  # column name -> mm^3
    exogenous: dict[str, float] = field(default_factory=dict)
    image: np.ndarray | None = None  # int16 (X, Y, Z)
    labels: np.ndarray | None = None  # int16 FreeSurfer ids, same grid
    affine: np.ndarray | None = None  # 4x4 RAS


def subject_id(index: int) -> str:
    return f"sub-{index + 1:03d}"


def session_id(index: int) -> str:
    return f"ses-{index + 1:02d}"


def volume_columns() -> list[str]:
    """Columns of the volume tables: structure groups, totals, then every FreeSurfer label."""
    return [*STRUCTURE_GROUPS, "brain_tissue", "intracranial", *FS_NAMES.values()]


def _volume_record(label_volumes: Mapping[int, float], scale: float) -> dict[str, float]:
    s3 = scale**3
    vols = {i: v * s3 for i, v in label_volumes.items()}
    rec = {g: sum(vols[i] for i in ids) for g, ids in STRUCTURE_GROUPS.items()}
    rec["brain_tissue"] = sum(v for i, v in vols.items() if i not in _FLUID_IDS)
    rec["intracranial"] = sum(vols.values())
    rec.update({FS_NAMES[i]: v for i, v in vols.items()})
    return {k: round(float(v), 2) for k, v in rec.items()}


# What `simulate` renders: every image, only the factual scans, only the counterfactuals, none.
RENDER_CHOICES = ("all", "factual", "counterfactual", "none")


def simulate(
    demo: Mapping[str, Any] | None,
    interventions: list[Mapping[str, Any]] | None,
    seed: int,
    render: str = "all",
) -> Iterator[ScanTruth]:
    """Yield every simulated scan: for each subject, session: factual then counterfactuals.

    `demo` is the `demo` config section (missing keys take the defaults), `interventions` the
    top-level list, `seed` the top-level seed. Every scan carries its covariates, true volumes
    and exogenous variables; `render` (one of :data:`RENDER_CHOICES`) selects the scans whose
    image and label map are rendered too (the others have ``image=None``): rendering is the
    costly part, so "none" (tables only) is much faster, and "counterfactual" gives the true
    counterfactuals without rendering the factual scans again. An image does not depend on
    which others are rendered.
    """
    if render not in RENDER_CHOICES:
        raise ValueError(f"render must be one of {RENDER_CHOICES}, got {render!r}")
    cfg = merge_defaults(demo)
    ivs: list[Intervention] = demo_interventions(interventions)
    torch.manual_seed(int(seed))
    anatomy = load_anatomy()
    model = _deformation_model(int(cfg["field_spacing_mm"]))
    for subj in range(int(cfg["n_subjects"])):
        yield from _simulate_subject(cfg, ivs, int(seed), subj, anatomy, model, render)


@functools.lru_cache(maxsize=2)
def _deformation_model(spacing: int) -> DeformationModel:
    return DeformationModel.build(load_anatomy(), spacing)


def _wants_image(render: str, name: str) -> bool:
    if render in ("all", "none"):
        return render == "all"
    return (name == FACTUAL) == (render == "factual")


def _simulate_subject(cfg, ivs, seed, subj, anatomy, model, render) -> Iterator[ScanTruth]:
    exo = causal.sample_subject(cfg, seed, subj)
    rng_anat = causal.subject_rng(seed, subj, causal.STREAM_ANATOMY)
    a = cfg["anatomy"]
    w = smooth_random_velocity(rng_anat, model.grid, a["displacement_rms_mm"], a["smoothness_mm"])
    psi = exp_velocity(w, model.grid)
    names = [FACTUAL] + [iv.name for iv in ivs]
    any_image = any(_wants_image(render, name) for name in names)
    psi_inv = exp_velocity(-w, model.grid) if any_image else None
    cache: dict[tuple, tuple] = {}  # atrophy target -> (inverse map, label volumes)
    for ses in range(causal.session_count(cfg, seed, subj)):
        factual = causal.factual_covariates(cfg, exo, ses)
        session = causal_session(cfg, seed, subj, ses)
        plans = []  # (name, covariates, head scale, atrophy target, cache key)
        for name, cov in [(FACTUAL, factual)] + [(iv.name, iv.apply(factual)) for iv in ivs]:
            target = causal.target_log_change(cfg, exo, cov)
            scale = causal.head_scale(cfg, exo, cov["sex"])
            plans.append((name, cov, scale, target, tuple(sorted(target.items()))))
        # Targets whose inverse map some rendered image needs (a target may be shared).
        inverse_for = {key for name, *_, key in plans if _wants_image(render, name)}
        rendered: dict[tuple, tuple] = {}  # (target, scale) -> (image, labels, affine)
        for name, cov, scale, target, key in plans:
            if key not in cache or (key in inverse_for and cache[key][0] is None):
                fwd, inv = model.atrophy_maps(target, inverse=key in inverse_for)
                label_vols = model.label_volumes(compose_maps(psi, fwd, model.grid))
                cache[key] = (inv, label_vols)
            inv, label_vols = cache[key]
            truth = ScanTruth(
                participant_id=subject_id(subj),
                session_id=session_id(ses),
                intervention=name,
                covariates={
                    "age": round(float(cov["age"]), 2),
                    "sex": cov["sex"],
                    "diagnosis": cov["diagnosis"],
                },
                volumes=_volume_record(label_vols, scale),
                exogenous=_exogenous_record(exo, scale, target, session),
            )
            if _wants_image(render, name):
                if (key, scale) not in rendered:
                    g = compose_maps(inv, psi_inv, model.grid)
                    rendered[(key, scale)] = _render(cfg, session, scale, g, model, anatomy)
                truth.image, truth.labels, truth.affine = rendered[(key, scale)]
            log.info(
                "%s %s %-8s age %.1f %s %s",
                truth.participant_id,
                truth.session_id,
                name,
                cov["age"],
                cov["sex"],
                cov["diagnosis"],
            )
            yield truth


def causal_session(cfg: dict[str, Any], seed: int, subj: int, ses: int) -> render.SessionExogenous:
    """Session-level exogenous variables (pose, field of view, scanner)."""
    return render.sample_session(cfg, causal.subject_rng(seed, subj, causal.STREAM_SESSION, ses))


def _exogenous_record(exo, scale, target, session) -> dict[str, float]:
    rec = {"u_dx": exo.u_dx, "head_noise": exo.head_noise, "head_scale": scale}
    rec.update({f"multiplier_{g}": m for g, m in exo.rate_multipliers.items()})
    rec.update({f"target_logchange_{g}": t for g, t in target.items()})
    rec.update(
        {
            "gamma": session.gamma,
            "intensity_scale": session.intensity_scale,
            "noise_fraction": session.noise_fraction,
        }
    )
    return {k: round(float(v), 6) for k, v in rec.items()}


def _render(
    cfg, session, scale, inverse_disp, model, anatomy
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image (int16), labels (int16) and affine of one scan on the session's grid."""
    res = int(cfg["resolution_mm"])
    shape, affine = render.output_grid(session, res)
    coords = render.template_coordinates(
        shape, affine, session, scale, inverse_disp, model.grid, anatomy
    )
    clean = render.sample_template(render.blurred_template(res), coords, "bilinear")
    labels = render.sample_template(render.template_labels(), coords, "nearest")
    return render.scanner_image(clean, session, cfg), np.rint(labels).astype(np.int16), affine
