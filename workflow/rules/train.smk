# prepare -> train -> evaluate, one train and one evaluate job per (B, lambda, seed) cell;
# evaluate also measures sharpness and gradient noise.


rule prepare:
    output:
        DATA,
    params:
        file=PARAMS,
        data=P["data"],
    log:
        "logs/prepare.log",
    benchmark:
        "benchmarks/prepare.tsv"
    shell:
        "python -m batch_momentum prepare --params {params.file} --out {output} > {log} 2>&1"


rule train:
    input:
        DATA,
    output:
        model="results/cells/bs{bs}_lam{lam}_seed{seed}/model.pt",
        curve="results/cells/bs{bs}_lam{lam}_seed{seed}/curve.csv",
        summary="results/cells/bs{bs}_lam{lam}_seed{seed}/train.json",
    params:
        file=PARAMS,
        model=P["model"],
        train=P["train"],
        out=subpath(output.model, parent=True),
    threads: P["train"]["threads"]
    resources:
        gpu=1 if P["train"]["device"] == "cuda" else 0,
    log:
        "logs/train/bs{bs}_lam{lam}_seed{seed}.log",
    benchmark:
        "benchmarks/train/bs{bs}_lam{lam}_seed{seed}.tsv"
    shell:
        "python -m batch_momentum train --params {params.file} --data {input} --batch-size {wildcards.bs}"
        " --momentum {wildcards.lam} --seed {wildcards.seed} --out {params.out} > {log} 2>&1"


rule evaluate:
    input:
        data=DATA,
        model="results/cells/bs{bs}_lam{lam}_seed{seed}/model.pt",
        summary="results/cells/bs{bs}_lam{lam}_seed{seed}/train.json",
    output:
        metrics="results/cells/bs{bs}_lam{lam}_seed{seed}/metrics.json",
        landscape="results/cells/bs{bs}_lam{lam}_seed{seed}/landscape.json",
    params:
        file=PARAMS,
        cell=subpath(input.model, parent=True),
        # not used in the command: a change here reruns the measures (as dvc.yaml's params do)
        sharpness=P["sharpness"],
        noise=P["noise"],
    threads: P["train"]["threads"]
    log:
        "logs/evaluate/bs{bs}_lam{lam}_seed{seed}.log",
    benchmark:
        "benchmarks/evaluate/bs{bs}_lam{lam}_seed{seed}.tsv"
    shell:
        "python -m batch_momentum evaluate --params {params.file} --data {input.data} --cell {params.cell} > {log} 2>&1"
