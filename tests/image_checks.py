"""Checks on written figures: a real PNG of the expected size whose panels are not blank."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_png(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """The image (height, width) as grey levels in [0, 1]; checks the PNG signature and, when
    given, the pixel size (width, height)."""
    import matplotlib.image

    path = Path(path)
    assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG file"
    image = matplotlib.image.imread(path)
    if size is not None:
        assert (image.shape[1], image.shape[0]) == tuple(size), (
            f"{path}: expected {size[0]}x{size[1]} pixels, got {image.shape[1]}x{image.shape[0]}"
        )
    return image[..., :3].mean(axis=-1) if image.ndim == 3 else image


def assert_figure_panels(
    path: str | Path,
    rows: int,
    columns: int,
    size: tuple[int, int] | None = None,
    min_std: float = 0.02,
) -> np.ndarray:
    """Split the figure into a rows x columns grid and require every cell to show something
    (grey-level standard deviation above `min_std`); returns the grey image."""
    grey = read_png(path, size)
    height, width = grey.shape
    blank = []
    for r in range(rows):
        for c in range(columns):
            cell = grey[
                r * height // rows : (r + 1) * height // rows,
                c * width // columns : (c + 1) * width // columns,
            ]
            if cell.std() <= min_std:
                blank.append((r, c))
    assert not blank, f"{path}: blank panels (row, column) {blank} of {rows}x{columns}"
    return grey
