"""Snakemake adapter: measure one model's forecasts (volume changes, image error)."""

from latentcf.cli_errors import run_script
from latentcf.preprocess import set_threads


def main(smk):
    set_threads(smk.threads)  # before ITK loads
    from pathlib import Path

    import pandas as pd

    from latentcf import derivatives
    from latentcf.encode import read_chunk_tables
    from latentcf.evaluate.forecasts import measure_forecasts

    res, family = int(smk.params.resolution_mm), smk.params.family
    chunk_of = read_chunk_tables(list(smk.input.encode)).set_index("scan")["chunk_dir"]
    measure_forecasts(
        forecasts=pd.read_csv(
            Path(smk.input.forecast) / derivatives.FORECASTS_TABLE, sep="\t", keep_default_na=False
        ),
        forecast_dir=smk.input.forecast,
        observed_dir=smk.input.observed,
        recon_of={
            s: Path(chunk_of[s]) / derivatives.recon_file(s, res, family) for s in smk.params.scans
        },
        image_of=dict(zip(smk.params.scans, smk.input.images, strict=True)),
        mask_of=dict(zip(smk.params.scans, smk.input.masks, strict=True)),
        out_path=smk.output[0],
        evaluate_config=dict(smk.params.evaluate),
        resolution_mm=res,
    )


run_script(main, snakemake)
