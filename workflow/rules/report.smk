# aggregate -> report: one tidy table over the cells params.yaml lists, then the page.


rule aggregate:
    input:
        expand("results/cells/{cell}/metrics.json", cell=CELLS),
        expand("results/cells/{cell}/curve.csv", cell=CELLS),
        expand("results/cells/{cell}/landscape.json", cell=CELLS),
    output:
        cells="reports/tables/cells.csv",
        curves="reports/tables/curves.csv",
        directions="reports/tables/directions.csv",
    params:
        file=PARAMS,
        grid=P["grid"],
    log:
        "logs/aggregate.log",
    benchmark:
        "benchmarks/aggregate.tsv"
    shell:
        "python -m batch_momentum aggregate --params {params.file} --cells-dir results/cells --out-dir reports/tables > {log} 2>&1"


rule report:
    input:
        cells="reports/tables/cells.csv",
        curves="reports/tables/curves.csv",
        directions="reports/tables/directions.csv",
        timing="results/timing/timing.csv",
        interpolation=expand("results/interpolation/{pair}.json", pair=PAIRS),
        momentum="results/momentum/critical.json",
    output:
        "reports/index.html",
    params:
        file=PARAMS,
        report=P["report"],
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report.tsv"
    shell:
        "python -m batch_momentum report --params {params.file} --tables reports/tables --figures reports/figures"
        " --timing {input.timing} --interpolation-dir results/interpolation --momentum {input.momentum}"
        " --out {output} > {log} 2>&1"
