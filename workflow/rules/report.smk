# aggregate -> analyze -> report: one tidy table over the runs params.yaml lists, the
# lecture's table as data (reports/lecture.json), then the page that renders it.


rule aggregate:
    input:
        metrics=expand("results/metrics/{run}.json", run=RUNS),
        curves=expand("results/cells/{run}/curve.csv", run=RUNS),
        landscape=expand("results/landscape/{run}.json", run=RUNS),
        equal=expand("results/equal_metrics/{run}.json", run=EQUAL_RUNS),
        equal_curves=expand("results/equal/{run}/curve.csv", run=EQUAL_RUNS),
        equal_landscape=expand("results/equal_landscape/{run}.json", run=EQUAL_RUNS),
        candidates=expand("results/equal/{cell}/candidates.csv", cell=EQUAL),
        choices=expand("results/equal/{cell}/choice.json", cell=EQUAL),
        code=code("aggregate"),
    output:
        cells="reports/tables/cells.csv",
        curves="reports/tables/curves.csv",
        directions="reports/tables/directions.csv",
        equal="reports/tables/equal.csv",
        equal_curves="reports/tables/equal_curves.csv",
        equal_directions="reports/tables/equal_directions.csv",
        candidates="reports/tables/candidates.csv",
        time_to_accuracy="reports/tables/time_to_accuracy.csv",
    params:
        tracked=tracked(P, "aggregate"),
    log:
        "logs/aggregate.log",
    benchmark:
        "benchmarks/aggregate.tsv"
    shell:
        "python -m batch_momentum aggregate --params {PARAMS} --results results --out-dir reports/tables > {log} 2>&1"


rule analyze:
    input:
        cells="reports/tables/cells.csv",
        equal="reports/tables/equal.csv",
        candidates="reports/tables/candidates.csv",
        time_to_accuracy="reports/tables/time_to_accuracy.csv",
        timing="results/timing/timing.csv",
        momentum="results/momentum/critical.json",
        code=code("analyze"),
    output:
        "reports/lecture.json",
    params:
        tracked=tracked(P, "analyze"),
    log:
        "logs/analyze.log",
    benchmark:
        "benchmarks/analyze.tsv"
    shell:
        "python -m batch_momentum analyze --params {PARAMS} --tables reports/tables --timing {input.timing}"
        " --momentum {input.momentum} --out {output} > {log} 2>&1"


rule report:
    input:
        tables=expand("reports/tables/{table}.csv", table=TABLES),
        timing="results/timing/timing.csv",
        interpolation=expand("results/interpolation/{pair}.json", pair=PAIRS),
        momentum="results/momentum/critical.json",
        lecture="reports/lecture.json",
        code=code("report"),
    output:
        page="reports/index.html",
        figures=directory("reports/figures"),
    params:
        tracked=tracked(P, "report"),
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report.tsv"
    shell:
        "python -m batch_momentum report --params {PARAMS} --tables reports/tables --figures {output.figures}"
        " --timing {input.timing} --interpolation-dir results/interpolation --momentum {input.momentum}"
        " --lecture {input.lecture} --out {output.page} > {log} 2>&1"
