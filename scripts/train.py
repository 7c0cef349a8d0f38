"""Snakemake adapter: train one model (see latentcf.train.train_model)."""

from pathlib import Path

from latentcf.cli_errors import run_script
from latentcf.train import TrainOutputs, train_model
from latentcf.train.description import write_dataset_description


def main(smk):
    out = smk.output
    train_model(
        train_images=list(smk.input.train_images),
        val_images=list(smk.input.val_images),
        val_masks=list(smk.input.val_masks),
        model_config=dict(smk.params.model),
        train_config=dict(smk.params.train),
        seed=int(smk.params.seed),
        outputs=TrainOutputs(
            model=Path(out.model),
            table=Path(out.table),
            plot=Path(out.plot),
            checkpoint_dir=Path(smk.params.checkpoint_dir),
        ),
        threads=smk.threads,
    )
    write_dataset_description(out.description, smk.wildcards.model, smk.params.model["family"])


run_script(main, snakemake)
