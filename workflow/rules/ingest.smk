# Ingest: the input dataset (BIDS folder, or a plain TSV with a path column) -> one validated
# cohort table, one row per T1w scan, split train/val/test by subject. A checkpoint, because the
# per-scan rules that follow read the table to build the DAG. Scans with problems are listed in
# excluded.tsv (or fail the run with ingest.strict: true). See latentcf.cohort.

checkpoint ingest:
    input:
        source=ingest_input,
        tracked=ingest_tracked_files,
    output:
        cohort=f"{OUT}/cohort/cohort.tsv",
        excluded=f"{OUT}/cohort/excluded.tsv",
    params:
        covariates=ingest_covariates(),
        split=config["split"],
        participant_label=config["participant_label"],
        seed=config["seed"],
        options=config["ingest"],
        code=code("ingest.py"),
    log:
        "logs/ingest.log",
    benchmark:
        "benchmarks/ingest.tsv",
    conda:
        "../../envs/latentcf.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/ingest.py"
