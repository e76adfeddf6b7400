# download -> prepare -> train -> evaluate: one train and one evaluate job per (B, lambda) cell, each
# doing every seed of the cell (train stacks them into one network); evaluate also
# measures sharpness and gradient noise. Outputs are per seed: results/cells/<cell>/seed<s>/
# (train), results/metrics/<cell>/seed<s>.json and results/landscape/<cell>/seed<s>.json.


# The real datasets' files into data/raw/<dataset>/, each checked against its md5 (mnist1d:
# the manifest only). The output is the manifest, written last: the files beside it are not
# deleted when the rule reruns (a changed mirror), and the step keeps those whose md5 match.
rule download:
    input:
        code=code("download"),
    output:
        f"{RAW}/manifest.json",
    params:
        tracked=tracked(P, "download"),
        out=lambda wildcards, output: str(Path(output[0]).parent),
    log:
        "logs/download.log",
    benchmark:
        "benchmarks/download.tsv"
    shell:
        "python -m batch_momentum download --params {PARAMS} --out {params.out} > {log} 2>&1"


rule prepare:
    input:
        raw=f"{RAW}/manifest.json",
        code=code("prepare"),
    output:
        DATA,
    params:
        tracked=tracked(P, "prepare"),
        raw=lambda wildcards, input: str(Path(input.raw).parent),
    log:
        "logs/prepare.log",
    benchmark:
        "benchmarks/prepare.tsv"
    shell:
        "python -m batch_momentum prepare --params {PARAMS} --raw {params.raw} --out {output} > {log} 2>&1"


rule train:
    input:
        data=DATA,
        code=code("train"),
    output:
        model=expand("results/cells/bs{{bs}}_lam{{lam}}/seed{seed}/model.pt", seed=SEEDS),
        curve=expand("results/cells/bs{{bs}}_lam{{lam}}/seed{seed}/curve.csv", seed=SEEDS),
        summary=expand("results/cells/bs{{bs}}_lam{{lam}}/seed{seed}/train.json", seed=SEEDS),
    params:
        tracked=tracked(P, "train"),
        out=lambda wildcards, output: str(Path(output.model[0]).parents[1]),
    threads: P.train.threads
    resources:
        gpu=GPU,
    log:
        "logs/train/bs{bs}_lam{lam}.log",
    benchmark:
        "benchmarks/train/bs{bs}_lam{lam}.tsv"
    shell:
        "python -m batch_momentum train --params {PARAMS} --data {input.data} --batch-size {wildcards.bs}"
        " --momentum {wildcards.lam} --out {params.out} > {log} 2>&1"


rule evaluate:
    input:
        data=DATA,
        model=expand("results/cells/bs{{bs}}_lam{{lam}}/seed{seed}/model.pt", seed=SEEDS),
        summary=expand("results/cells/bs{{bs}}_lam{{lam}}/seed{seed}/train.json", seed=SEEDS),
        code=code("evaluate"),
    output:
        metrics=expand("results/metrics/bs{{bs}}_lam{{lam}}/seed{seed}.json", seed=SEEDS),
        landscape=expand("results/landscape/bs{{bs}}_lam{{lam}}/seed{seed}.json", seed=SEEDS),
    params:
        tracked=tracked(P, "evaluate"),
        cell=lambda wildcards, input: str(Path(input.model[0]).parents[1]),
        out=lambda wildcards, output: str(Path(output.metrics[0]).parent),
        landscape=lambda wildcards, output: str(Path(output.landscape[0]).parent),
    threads: P.train.threads
    resources:
        gpu=GPU,
    log:
        "logs/evaluate/bs{bs}_lam{lam}.log",
    benchmark:
        "benchmarks/evaluate/bs{bs}_lam{lam}.tsv"
    shell:
        "python -m batch_momentum evaluate --params {PARAMS} --data {input.data} --cell {params.cell}"
        " --out {params.out} --landscape {params.landscape} > {log} 2>&1"


# Keskar et al.'s protocol, per lambda: the small and the large batch of equal_acc, every
# step of the start of its sweep x every seed stacked in one job, each run until the training accuracy
# target, then the steps the bracket of its best eta asks for (inside the same job); the chosen eta's
# runs go to results/equal/<cell>/seed<s>/ and are evaluated like the grid's cells. One rule per batch
# size (a wildcard constraint picks it): each tracks only its own step list, so editing
# equal_acc.step_large reruns only the large batch's cells.
rule train_equal_small:
    input:
        data=DATA,
        code=code("train_equal_small"),
    output:
        model=expand("results/equal/bs{{bs}}_lam{{lam}}/seed{seed}/model.pt", seed=EQUAL_SEEDS),
        curve=expand("results/equal/bs{{bs}}_lam{{lam}}/seed{seed}/curve.csv", seed=EQUAL_SEEDS),
        summary=expand("results/equal/bs{{bs}}_lam{{lam}}/seed{seed}/train.json", seed=EQUAL_SEEDS),
        candidates="results/equal/bs{bs}_lam{lam}/candidates.csv",
        weights="results/equal/bs{bs}_lam{lam}/candidates.pt",
        choice="results/equal/bs{bs}_lam{lam}/choice.json",
    wildcard_constraints:
        bs=str(P.equal_acc.batch_size[0]),
    params:
        tracked=tracked(P, "train_equal_small"),
        out=lambda wildcards, output: str(Path(output.choice).parent),
    threads: P.train.threads
    resources:
        gpu=GPU,
    log:
        "logs/train_equal/bs{bs}_lam{lam}.log",
    benchmark:
        "benchmarks/train_equal/bs{bs}_lam{lam}.tsv"
    shell:
        "python -m batch_momentum train --params {PARAMS} --data {input.data} --batch-size {wildcards.bs}"
        " --momentum {wildcards.lam} --protocol equal_acc --out {params.out} > {log} 2>&1"


rule train_equal_large:
    input:
        data=DATA,
        code=code("train_equal_large"),
    output:
        model=expand("results/equal/bs{{bs}}_lam{{lam}}/seed{seed}/model.pt", seed=EQUAL_SEEDS),
        curve=expand("results/equal/bs{{bs}}_lam{{lam}}/seed{seed}/curve.csv", seed=EQUAL_SEEDS),
        summary=expand("results/equal/bs{{bs}}_lam{{lam}}/seed{seed}/train.json", seed=EQUAL_SEEDS),
        candidates="results/equal/bs{bs}_lam{lam}/candidates.csv",
        weights="results/equal/bs{bs}_lam{lam}/candidates.pt",
        choice="results/equal/bs{bs}_lam{lam}/choice.json",
    wildcard_constraints:
        bs=str(P.equal_acc.batch_size[1]),
    params:
        tracked=tracked(P, "train_equal_large"),
        out=lambda wildcards, output: str(Path(output.choice).parent),
    threads: P.train.threads
    resources:
        gpu=GPU,
    log:
        "logs/train_equal/bs{bs}_lam{lam}.log",
    benchmark:
        "benchmarks/train_equal/bs{bs}_lam{lam}.tsv"
    shell:
        "python -m batch_momentum train --params {PARAMS} --data {input.data} --batch-size {wildcards.bs}"
        " --momentum {wildcards.lam} --protocol equal_acc --out {params.out} > {log} 2>&1"


rule evaluate_equal:
    input:
        data=DATA,
        model=expand("results/equal/bs{{bs}}_lam{{lam}}/seed{seed}/model.pt", seed=EQUAL_SEEDS),
        summary=expand("results/equal/bs{{bs}}_lam{{lam}}/seed{seed}/train.json", seed=EQUAL_SEEDS),
        candidates="results/equal/bs{bs}_lam{lam}/candidates.csv",
        weights="results/equal/bs{bs}_lam{lam}/candidates.pt",
        code=code("evaluate_equal"),
    output:
        metrics=expand("results/equal_metrics/bs{{bs}}_lam{{lam}}/seed{seed}.json", seed=EQUAL_SEEDS),
        landscape=expand("results/equal_landscape/bs{{bs}}_lam{{lam}}/seed{seed}.json", seed=EQUAL_SEEDS),
        eta="results/equal_eta/bs{bs}_lam{lam}.csv",
        rescaling="results/equal_rescaling/bs{bs}_lam{lam}.csv",
    params:
        tracked=tracked(P, "evaluate_equal"),
        cell=lambda wildcards, input: str(Path(input.model[0]).parents[1]),
        out=lambda wildcards, output: str(Path(output.metrics[0]).parent),
        landscape=lambda wildcards, output: str(Path(output.landscape[0]).parent),
    threads: P.train.threads
    resources:
        gpu=GPU,
    log:
        "logs/evaluate_equal/bs{bs}_lam{lam}.log",
    benchmark:
        "benchmarks/evaluate_equal/bs{bs}_lam{lam}.tsv"
    shell:
        "python -m batch_momentum evaluate --params {PARAMS} --data {input.data} --cell {params.cell} --protocol equal_acc"
        " --out {params.out} --landscape {params.landscape} --eta-out {output.eta}"
        " --rescaling-out {output.rescaling} > {log} 2>&1"
