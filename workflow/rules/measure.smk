# Measurements beside the cells: timing (an exclusive job), the small-vs-large
# interpolation per (lambda, seed), and the momentum experiments on known surfaces.


rule timing:
    input:
        DATA,
    output:
        "results/timing/timing.csv",
    params:
        file=PARAMS,
        timing=P["timing"],
        model=P["model"],
        device=P["train"]["device"],
        lr=P["train"]["lr"],
    # All the cores: Snakemake starts no other local job while this one runs, so the
    # clock readings are not distorted by training jobs on the same cores.
    threads: workflow.cores
    log:
        "logs/timing.log",
    benchmark:
        "benchmarks/timing.tsv"
    shell:
        "python -m batch_momentum timing --params {params.file} --data {input} --out {output} > {log} 2>&1"


rule interpolate:
    input:
        data=DATA,
        small=f"results/cells/bs{SMALL}_lam{{lam}}_seed{{seed}}/model.pt",
        large=f"results/cells/bs{LARGE}_lam{{lam}}_seed{{seed}}/model.pt",
    output:
        "results/interpolation/lam{lam}_seed{seed}.json",
    params:
        file=PARAMS,
        sharpness=P["sharpness"],
        small=subpath(input.small, parent=True),
        large=subpath(input.large, parent=True),
    log:
        "logs/interpolate/lam{lam}_seed{seed}.log",
    benchmark:
        "benchmarks/interpolate/lam{lam}_seed{seed}.tsv"
    shell:
        "python -m batch_momentum interpolate --params {params.file} --data {input.data} --small {params.small}"
        " --large {params.large} --out {output} > {log} 2>&1"


rule momentum:
    output:
        "results/momentum/critical.json",
    params:
        file=PARAMS,
        momentum=P["momentum"],
        lambdas=P["grid"]["momentum"],
    log:
        "logs/momentum.log",
    benchmark:
        "benchmarks/momentum.tsv"
    shell:
        "python -m batch_momentum momentum --params {params.file} --out {output} > {log} 2>&1"
