# What was built: one Markdown page listing every stage's outputs, written last.


rule summary:
    input:
        unpack(summary_inputs),
    output:
        f"{OUT}/summary.md",
    params:
        output_dir=lambda wildcards, output: os.path.dirname(output[0]),
        code=code("write_summary.py"),
    log:
        "logs/summary.log",
    benchmark:
        "benchmarks/summary.tsv",
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/write_summary.py"
