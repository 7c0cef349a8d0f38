"""The forecast stage of one model: longitudinal forecasts of held-out subjects in latent space.

Reads the cohort table, the model's encode chunks (``latent_<scm_latent>.npy`` flattened to one
vector per scan, through scans.tsv) and, when the population slope comes from it, the fitted
latent SCM. The train subjects are streamed in batches of about ``forecast.batch_mb`` MB: their
within-subject OLS fits give the population prior (latentcf.forecast.prior) and all train scans
the cross-sectional population line (latentcf.forecast.population). Every subject of
``forecast.splits`` with an earlier scan gets each method's forecast of its last scan
(latentcf.forecast.tasks), its latent-space error, and (main rows; curve rows with
``forecast.curve_images``) the decoded image on the model grid. The folder is built beside its
final name and renamed when complete (latentcf.io.atomic_directory).

Population slope: ``forecast.population_slope: within_subject`` uses beta_pop from the train
subjects' own slopes when at least ``forecast.min_train_subjects`` train subjects have two or
more scans at different ages, and otherwise falls back, with a warning, to the latent SCM's age
coefficient per year (latentcf.forecast.scm_slope); ``scm`` always uses the SCM. tau^2 and sigma^2
need the same number of longitudinal train subjects (and one with three or more scans);
without them the prior methods use w = 0 (the population slope through the subject's mean latent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from latentcf import derivatives
from latentcf.cohort import read_cohort
from latentcf.config import validate_section
from latentcf.errors import ConfigError, InputDataError
from latentcf.forecast.lines import Line, fit_groups
from latentcf.forecast.methods import forecast_latent
from latentcf.forecast.population import LineSums
from latentcf.forecast.prior import PopulationPrior, SlopeMoments
from latentcf.forecast.scm_slope import scm_slope
from latentcf.forecast.tables import error_table, forecast_row, forecasts_table, relative_l2
from latentcf.forecast.tasks import PRIOR_METHODS, History, histories, tasks
from latentcf.io import (
    atomic_directory,
    save_nifti_atomic,
    save_npz_atomic,
    write_json_atomic,
    write_tsv_atomic,
)
from latentcf.scm.fitted import FittedSCM

log = logging.getLogger(__name__)


class LatentIndex:
    """Flattened latents (K,) of any encoded scan, read from the encode chunks' memory maps."""

    def __init__(self, chunk_dirs: Sequence[str | Path], name: str, size: int):
        from latentcf.encode import read_chunk_tables  # imports torch: not for empty cohorts

        self.table = read_chunk_tables(chunk_dirs)
        if self.table.empty:
            raise InputDataError("<encode chunks>", "no encode chunk folder given", "Run encode")
        self.where = dict(
            zip(
                self.table["scan"],
                zip(self.table["chunk_dir"], self.table["row"], strict=True),
                strict=True,
            )
        )
        self.name, self.size = name, size
        self._maps: dict[str, np.ndarray] = {}

    def check(self, scans: Sequence[str], what: str) -> None:
        missing = [s for s in scans if s not in self.where]
        if missing:
            raise InputDataError(
                "<encode chunks>",
                f"no latent for {len(missing)} of the {len(scans)} {what} (first: {missing[0]})",
                "Rerun the encode rule for every chunk",
            )

    def get(self, scans: Sequence[str]) -> np.ndarray:
        """Latents (n, K) float64 of `scans`, in that order."""
        out = np.empty((len(scans), self.size))
        for i, scan in enumerate(scans):
            chunk, row = self.where[scan]
            if chunk not in self._maps:
                latents = np.load(Path(chunk) / derivatives.latent_file(self.name), mmap_mode="r")
                if int(np.prod(latents.shape[1:])) != self.size:
                    raise InputDataError(
                        Path(chunk) / derivatives.latent_file(self.name),
                        f"latents have {int(np.prod(latents.shape[1:]))} values per scan, the "
                        f"model's {self.name} has {self.size}",
                        "Re-encode with the current model",
                    )
                self._maps[chunk] = latents
            out[i] = self._maps[chunk][row].reshape(-1)
        return out


def subject_batches(
    train: pd.DataFrame, age: str, rows_per_batch: int
) -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
    """(scans, ages (N,), group starts (S,)) of whole train subjects, each sorted by age, at most
    `rows_per_batch` scans per batch (a larger subject comes alone)."""
    scans: list[str] = []
    ages: list[float] = []
    starts: list[int] = []
    for _, rows in train.groupby("participant_id", sort=False):
        rows = rows.sort_values([age, "session_id"], kind="stable")
        if scans and len(scans) + len(rows) > rows_per_batch:
            yield scans, np.asarray(ages), np.asarray(starts)
            scans, ages, starts = [], [], []
        starts.append(len(scans))
        scans += list(rows["scan"])
        ages += [float(a) for a in rows[age]]
    if scans:
        yield scans, np.asarray(ages), np.asarray(starts)


def train_statistics(
    index: LatentIndex, train: pd.DataFrame, age: str, batch_mb: int, weights: str = "sxx"
) -> tuple[SlopeMoments, LineSums]:
    """Within-subject slope moments and the cross-sectional line sums over the train scans."""
    index.check(list(train["scan"]), "train scans")
    rows = max(1, (batch_mb * 2**20) // (8 * index.size * 4))  # the batch and its fits
    moments, population = SlopeMoments(weights), LineSums()
    for scans, ages, starts in subject_batches(train, age, rows):
        fits = fit_groups(ages, index.get(scans), starts)
        moments.add(fits)
        population.add_fits(fits)
    return moments, population


def population_prior(
    cfg: Mapping[str, Any],
    moments: SlopeMoments,
    train: pd.DataFrame,
    age: str,
    scm_loader: Callable[[], FittedSCM],
) -> PopulationPrior:
    """The prior of the subjects' slopes, with the fallback rule of the module docstring."""
    enough = moments.m >= cfg["min_train_subjects"]
    tau2 = sigma2 = beta = None
    if enough:
        beta, tau2, sigma2 = moments.estimate(cfg["shrinkage"])
    if cfg["population_slope"] == "within_subject" and enough:
        slope, source = beta, "within_subject"
    else:
        if cfg["population_slope"] == "within_subject":
            log.warning(
                "%d train subject(s) with two or more scans at different ages, fewer than "
                "forecast.min_train_subjects %d: population slope from the latent SCM's %s "
                "coefficient",
                moments.m,
                cfg["min_train_subjects"],
                age,
            )
        slope, source = scm_slope(scm_loader(), train, age), "scm"
    if tau2 is None:
        log.warning(
            "tau^2 and sigma^2 not estimated (%d longitudinal train subject(s), %g residual "
            "degrees of freedom; forecast.min_train_subjects %d): prior methods use w = 0, the "
            "population slope through the subject's mean latent",
            moments.m,
            moments.dof,
            cfg["min_train_subjects"],
        )
    info = {"n_train_subjects": moments.m, "residual_dof": moments.dof}
    return PopulationPrior(np.asarray(slope), tau2, sigma2, source, cfg["shrinkage"], info)


def forecast_subjects(
    cohort_tsv: str | Path,
    covariates: Mapping[str, Mapping[str, Any]],
    forecast_config: Mapping[str, Any] | None,
) -> tuple[pd.DataFrame, list[History]]:
    """The cohort table and its forecast subjects (held-out subjects with an earlier scan) under
    the `forecast` config section; raises ConfigError for an age covariate that is not numeric."""
    cfg = validate_section(forecast_config, "forecast.schema.yaml", "forecast")
    age = cfg["age_covariate"]
    if covariates.get(age, {}).get("type") != "numeric":
        numeric = [k for k, v in covariates.items() if v.get("type") == "numeric"]
        raise ConfigError(
            "forecast.age_covariate", f"got {age!r}; expected a numeric covariate, one of {numeric}"
        )
    cohort = read_cohort(cohort_tsv, covariates)
    return cohort, histories(cohort, cfg["splits"], age)


def run_forecast(
    model_path: str | Path,
    model_config: Mapping[str, Any],
    chunk_dirs: Sequence[str | Path],
    cohort_tsv: str | Path,
    covariates: Mapping[str, Mapping[str, Any]],
    scm_files: tuple[str | Path, str | Path],
    out_dir: str | Path,
    resolution_mm: int,
    forecast_config: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Write the forecast folder `out_dir` of one model (latentcf.derivatives); returns forecasts.tsv.

    `scm_files` are fit_scm's design.json and coefficients.npz (read only for an SCM population
    slope). The table's `image` is relative to `out_dir`.
    """
    cfg = validate_section(forecast_config, "forecast.schema.yaml", "forecast")
    age = cfg["age_covariate"]
    cohort, subjects = forecast_subjects(cohort_tsv, covariates, cfg)
    info: dict[str, Any] = {
        "splits": list(cfg["splits"]),
        "age_covariate": age,
        "population_slope": cfg["population_slope"],
        "min_train_subjects": cfg["min_train_subjects"],
        "n_forecast_subjects": len(subjects),
    }
    if not subjects:
        log.info(
            "no subject of split(s) %s has two or more scans at different ages (a cross-sectional "
            "cohort): forecasts.tsv and %s are written with zero rows",
            list(cfg["splits"]),
            derivatives.FORECAST_ERRORS_TABLE,
        )
        with atomic_directory(out_dir) as tmp:
            _write_tables(tmp, forecasts_table([]), {**info, "status": "no forecast subjects"}, {})
        return forecasts_table([])
    return _forecast(
        cfg, cohort, subjects, info, model_path, model_config, chunk_dirs, scm_files,
        Path(out_dir), resolution_mm, threads,
    )  # fmt: skip


@dataclass
class Decoder:
    """The model's decoder and where its images go (model grid of `resolution_mm`)."""

    model: Any
    name: str
    shape: tuple[int, ...]
    device: Any
    precision: str
    resolution_mm: int

    def save(self, latents: Sequence[np.ndarray], paths: Sequence[Path]) -> None:
        """Decode flattened latents (K,) in one batch and save each image to its path."""
        from latentcf.counterfactual.generate import decode_latents
        from latentcf.grid import grid_affine

        if not latents:
            return
        batch = np.stack([z.reshape(self.shape) for z in latents]).astype(np.float32)
        images = decode_latents(self.model, self.name, batch, self.device, self.precision)
        affine = grid_affine(self.resolution_mm)
        for image, path in zip(images, paths, strict=True):
            img = nib.Nifti1Image(image.astype(np.float32), affine)
            img.header.set_xyzt_units("mm")
            save_nifti_atomic(img, path)


def _forecast(
    cfg: Mapping[str, Any],
    cohort: pd.DataFrame,
    subjects: Sequence[History],
    info: dict[str, Any],
    model_path: str | Path,
    model_config: Mapping[str, Any],
    chunk_dirs: Sequence[str | Path],
    scm_files: tuple[str | Path, str | Path],
    out_dir: Path,
    resolution_mm: int,
    threads: int | None,
) -> pd.DataFrame:
    import torch

    from latentcf.models.base import model_settings
    from latentcf.models.checkpoint import load_model
    from latentcf.train.device import resolve_precision, select_device

    age = cfg["age_covariate"]
    torch.set_num_threads(max(1, int(threads or cfg["threads"])))
    device = select_device(cfg["device"])
    precision = resolve_precision(cfg["precision"], device, "forecast.precision")
    model, meta = load_model(model_path, model_settings(model_config), device)
    name = meta["scm_latent"]
    shape = tuple(int(s) for s in meta["latent_shapes"][name])
    decoder = Decoder(model, name, shape, device, precision, resolution_mm)
    index = LatentIndex(chunk_dirs, name, int(np.prod(shape)))
    train = cohort[cohort["split"] == "train"]
    moments, sums = train_statistics(index, train, age, cfg["batch_mb"], cfg["slope_weights"])
    population = _population_line(sums) if "population" in cfg["methods"] else None

    def load_scm() -> FittedSCM:
        scm = FittedSCM.load(*scm_files)
        if scm.latent_name != name or tuple(scm.latent_shape) != shape:
            raise InputDataError(
                scm_files[0],
                f"fitted on latent {scm.latent_name} {list(scm.latent_shape)}, the model has "
                f"{name} {list(shape)}",
                "Rerun fit_scm",
            )
        return scm

    prior = None
    if set(cfg["methods"]) & set(PRIOR_METHODS):
        prior = population_prior(cfg, moments, train, age, load_scm)
    rows: list[dict[str, Any]] = []
    with atomic_directory(out_dir) as tmp:
        for history in subjects:
            rows += _subject(history, cfg, index, prior, population, decoder, tmp)
        table = forecasts_table(rows)
        summary = {
            **info,
            **(prior.summary() if prior is not None else {"n_train_subjects": moments.m}),
            "n_train_scans": len(train),
            "population_line_slope_norm": (
                None if population is None else float(np.linalg.norm(population.slope))
            ),
            "latent": {"name": name, "shape": list(shape)},
        }
        _write_tables(tmp, table, summary, _prior_arrays(prior, population))
    means = table[table["main"]].groupby("method", sort=False)["latent_rel_l2"].mean()
    log.info(
        "%d forecasts of %d subject(s) written to %s; mean latent relative L2 (main rows): %s",
        len(table),
        len(subjects),
        out_dir,
        ", ".join(f"{m} {v:.4f}" for m, v in means.items()),
    )
    return table


def _population_line(sums: LineSums) -> Line:
    try:
        return sums.line()
    except ValueError as exc:
        raise InputDataError(
            "<cohort>",
            f"the population method needs train scans at two or more ages ({exc})",
            "Remove 'population' from forecast.methods",
        ) from exc


def _subject(
    history: History,
    cfg: Mapping[str, Any],
    index: LatentIndex,
    prior: PopulationPrior | None,
    population: Line | None,
    decoder: Decoder,
    tmp: Path,
) -> list[dict[str, Any]]:
    """Forecasts of one subject: its rows of forecasts.tsv; its images decoded in one batch."""
    scans = [*history.scans, history.target_scan]
    index.check(scans, f"scans of {history.subject}")
    latents = dict(zip(scans, index.get(scans), strict=True))
    rows, decode, files = [], [], []
    for task in tasks(history, cfg["methods"]):
        used = np.stack([latents[s] for s in task.scans]) if task.scans else None
        z, w = forecast_latent(task, used, prior, population)
        image = None  # no_change: the preprocessed last earlier scan itself, no file here
        if task.method != "no_change" and (task.main or cfg["curve_images"]):
            n_scans = None if task.main else task.n_scans
            image = derivatives.forecast_file(
                history.target_scan, decoder.resolution_mm, task.method, n_scans
            )
            decode.append(z)
            files.append(tmp / image)
        error = relative_l2(z, latents[history.target_scan])
        rows.append(forecast_row(task, error, w, image))
        log.info(
            "%s: %s from %d scan(s) (ages %s) to age %g: latent relative L2 %.4f",
            history.subject,
            task.method,
            task.n_scans,
            ", ".join(f"{a:g}" for a in task.ages) or "-",
            history.target_age,
            error,
        )
    decoder.save(decode, files)
    return rows


def _prior_arrays(prior: PopulationPrior | None, population: Line | None) -> dict[str, np.ndarray]:
    """prior.npz: slope, tau2, sigma2 (when estimated), the population line."""
    arrays: dict[str, np.ndarray] = {}
    if prior is not None:
        arrays["slope"] = prior.slope
        if prior.tau2 is not None and prior.sigma2 is not None:
            arrays.update(tau2=np.asarray(prior.tau2), sigma2=np.asarray(prior.sigma2))
    if population is not None:
        arrays.update(
            population_mean_age=np.asarray(population.mean_age),
            population_mean_latent=population.mean_latent,
            population_slope=population.slope,
        )
    return arrays


def _write_tables(
    folder: Path, table: pd.DataFrame, summary: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> None:
    write_tsv_atomic(table, folder / derivatives.FORECASTS_TABLE)
    write_tsv_atomic(error_table(table), folder / derivatives.FORECAST_ERRORS_TABLE)
    write_json_atomic(dict(summary), folder / derivatives.FORECAST_PRIOR_JSON)
    save_npz_atomic(folder / derivatives.FORECAST_PRIOR_ARRAYS, **arrays)
