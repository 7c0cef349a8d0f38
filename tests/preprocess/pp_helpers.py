"""Helpers of the preprocessing tests (a module name unique across tests/, unlike conftest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

REPO = Path(__file__).resolve().parents[2]
IXI_DIR = REPO.parent / "shared" / "data" / "ixi"
COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
COLIN27_BRAIN = Path("/usr/share/mricron/templates/ch2bet.nii.gz")


def rigid_pose(
    seed: int, max_rotation_deg: float = 20.0, max_translation_mm: float = 20.0
) -> np.ndarray:
    """A random 4x4 rigid transform (world mm -> world mm)."""
    rng = np.random.default_rng(seed)
    pose = np.eye(4)
    pose[:3, :3] = Rotation.from_euler(
        "xyz", rng.uniform(-max_rotation_deg, max_rotation_deg, 3), degrees=True
    ).as_matrix()
    pose[:3, 3] = rng.uniform(-max_translation_mm, max_translation_mm, 3)
    return pose


def template_head_2mm() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(head, brain mask, affine) of the ICBM 2009c template resampled to 2 mm (float32, bool)."""
    from latentcf.preprocess.antsimg import ants_affine
    from latentcf.preprocess.template import load_template

    tpl = load_template(2.0)
    return tpl.head.numpy().astype(np.float32), tpl.mask_array, ants_affine(tpl.head)


def png_panels_vary(
    path: Path, size_px: tuple[int, int], panels: list[tuple[float, float, float, float]]
) -> list[float]:
    """Check a PNG's size and return the pixel standard deviation of each panel box.

    `size_px`: expected (width, height); `panels`: (x0, x1, y0, y1) boxes as fractions of the
    width and height, from the top left. A constant (e.g. all-black) panel gives 0.
    """
    from PIL import Image

    with Image.open(path) as img:
        assert img.size == size_px, f"{path}: {img.size} pixels, expected {size_px}"
        pixels = np.asarray(img.convert("L"), dtype=np.float64)
    height, width = pixels.shape
    return [
        float(pixels[int(y0 * height) : int(y1 * height), int(x0 * width) : int(x1 * width)].std())
        for x0, x1, y0, y1 in panels
    ]


# outline_figure's three slice panels (sagittal, coronal, axial), centre of each third.
OUTLINE_PANELS = [(i / 3 + 1 / 12, (i + 1) / 3 - 1 / 12, 0.3, 0.7) for i in range(3)]
# latentcf.preprocess.qc.outline_figure: figsize (12, 4.6) inches at 80 dpi.
OUTLINE_PX = (960, 368)
