# Measurements beside the cells: timing (an exclusive job), the small-vs-large
# interpolation per lambda between the equal-accuracy runs (every seed in one job), and the momentum experiments on
# known surfaces.


rule timing:
    input:
        data=DATA,
        code=code("timing"),
    output:
        report(
            "results/timing/timing.csv",
            caption=f"{CAPTIONS}/timing_table.rst",
            category=CAT.timing,
            subcategory="tables",
        ),
    params:
        tracked=tracked(P, "timing"),
    # All the cores: Snakemake starts no other local job while this one runs, so the
    # clock readings are not distorted by training jobs on the same cores.
    threads: workflow.cores
    resources:
        gpu=GPU,  # it times the pipeline's device
    log:
        "logs/timing.log",
    benchmark:
        "benchmarks/timing.tsv"
    shell:
        "python -m batch_momentum timing --params {PARAMS} --data {input.data} --out {output} > {log} 2>&1"


rule interpolate:
    input:
        data=DATA,
        small=expand(f"results/equal/bs{SMALL}_lam{{{{lam}}}}/seed{{seed}}/model.pt", seed=EQUAL_SEEDS),
        large=expand(f"results/equal/bs{LARGE}_lam{{{{lam}}}}/seed{{seed}}/model.pt", seed=EQUAL_SEEDS),
        code=code("interpolate"),
    output:
        expand("results/interpolation/lam{{lam}}/seed{seed}.json", seed=EQUAL_SEEDS),
    params:
        tracked=tracked(P, "interpolate"),
        small=lambda wildcards, input: str(Path(input.small[0]).parents[1]),
        large=lambda wildcards, input: str(Path(input.large[0]).parents[1]),
        out=lambda wildcards, output: str(Path(output[0]).parent),
    resources:
        gpu=GPU,  # it evaluates the models on train.device
    log:
        "logs/interpolate/lam{lam}.log",
    benchmark:
        "benchmarks/interpolate/lam{lam}.tsv"
    shell:
        "python -m batch_momentum interpolate --params {PARAMS} --data {input.data} --small {params.small}"
        " --large {params.large} --out {params.out} > {log} 2>&1"


rule momentum:
    input:
        code=code("momentum"),
    output:
        report(
            "results/momentum/critical.json",
            caption=f"{CAPTIONS}/momentum_json.rst",
            category=CAT.momentum,
            subcategory="data",
        ),
    params:
        tracked=tracked(P, "momentum"),
    log:
        "logs/momentum.log",
    benchmark:
        "benchmarks/momentum.tsv"
    shell:
        "python -m batch_momentum momentum --params {PARAMS} --out {output} > {log} 2>&1"
