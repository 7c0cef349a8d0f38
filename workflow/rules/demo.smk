# The embedded demo cohort: a simulated BIDS dataset with ground truth (docs/demo_cohort.md).
# The factual dataset does not depend on the interventions: editing them reruns only the true
# counterfactuals (simulate_demo_counterfactuals) and the model counterfactuals, not the cohort.


rule simulate_demo:
    output:
        bids=directory(f"{OUT}/demo/bids"),
    params:
        demo=config["demo"],
        seed=config["seed"],
        code=code("simulate_demo.py"),
    log:
        "logs/demo/simulate.log",
    benchmark:
        "benchmarks/demo/simulate.tsv"
    conda:
        "../../envs/latentcf.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../../scripts/simulate_demo.py"


rule simulate_demo_counterfactuals:
    output:
        truth=directory(f"{OUT}/demo/truth_counterfactuals"),
    params:
        demo=config["demo"],
        interventions=config["interventions"],
        seed=config["seed"],
        code=code("simulate_demo_counterfactuals.py"),
    log:
        "logs/demo/simulate_counterfactuals.log",
    benchmark:
        "benchmarks/demo/simulate_counterfactuals.tsv"
    conda:
        "../../envs/latentcf.yaml"
    # One thread: with two it ran alone for 31 s on 20 s of CPU time (the demo on 2 cores); with
    # one, preprocessing runs beside it.
    threads: 1
    priority: 1  # off the critical path: run it early, not alone at the end
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../../scripts/simulate_demo_counterfactuals.py"


rule plot_demo_truth:
    input:
        bids=f"{OUT}/demo/bids",
    output:
        figure=report(
            f"{OUT}/demo/truth_volumes_vs_age.png",
            caption="../report/demo_truth.rst",
            category="Demo cohort",
        ),
    params:
        volumes="derivatives/truth/volumes.tsv",
        code=code("plot_demo_truth.py"),
    log:
        "logs/demo/plot_truth.log",
    benchmark:
        "benchmarks/demo/plot_truth.tsv",
    conda:
        "../../envs/latentcf.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../../scripts/plot_demo_truth.py"
