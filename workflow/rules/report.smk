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
        eta=expand("results/equal_eta/{cell}.csv", cell=EQUAL),
        rescaling=expand("results/equal_rescaling/{cell}.csv", cell=EQUAL),
        code=code("aggregate"),
    output:
        cells=report(
            "reports/tables/cells.csv",
            caption=f"{CAPTIONS}/cells.rst",
            category=CAT.optimization,
            subcategory="tables",
        ),
        curves=report(
            "reports/tables/curves.csv",
            caption=f"{CAPTIONS}/curves.rst",
            category=CAT.optimization,
            subcategory="tables",
        ),
        directions=report(
            "reports/tables/directions.csv",
            caption=f"{CAPTIONS}/directions.rst",
            category=CAT.sharpness,
            subcategory="tables",
        ),
        equal=report(
            "reports/tables/equal.csv",
            caption=f"{CAPTIONS}/equal.rst",
            category=CAT.generalization,
            subcategory="tables",
        ),
        equal_curves=report(
            "reports/tables/equal_curves.csv",
            caption=f"{CAPTIONS}/equal_curves.rst",
            category=CAT.generalization,
            subcategory="tables",
        ),
        equal_directions=report(
            "reports/tables/equal_directions.csv",
            caption=f"{CAPTIONS}/equal_directions.rst",
            category=CAT.sharpness,
            subcategory="tables",
        ),
        candidates=report(
            "reports/tables/candidates.csv",
            caption=f"{CAPTIONS}/candidates.rst",
            category=CAT.generalization,
            subcategory="tables",
        ),
        brackets=report(
            "reports/tables/brackets.csv",
            caption=f"{CAPTIONS}/brackets.rst",
            category=CAT.generalization,
            subcategory="tables",
        ),
        rescaling=report(
            "reports/tables/rescaling.csv",
            caption=f"{CAPTIONS}/rescaling.rst",
            category=CAT.sharpness,
            subcategory="tables",
        ),
        time_to_accuracy=report(
            "reports/tables/time_to_accuracy.csv",
            caption=f"{CAPTIONS}/time_to_accuracy.rst",
            category=CAT.optimization,
            subcategory="tables",
        ),
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
        brackets="reports/tables/brackets.csv",
        time_to_accuracy="reports/tables/time_to_accuracy.csv",
        timing="results/timing/timing.csv",
        momentum="results/momentum/critical.json",
        code=code("analyze"),
    output:
        lecture=report(
            "reports/lecture.json",
            caption=f"{CAPTIONS}/lecture.rst",
            category=CAT.lecture,
            subcategory="data",
        ),
        metrics=report(
            "reports/verdicts.json",
            caption=f"{CAPTIONS}/verdicts.rst",
            category=CAT.lecture,
            subcategory="data",
        ),
    params:
        tracked=tracked(P, "analyze"),
    log:
        "logs/analyze.log",
    benchmark:
        "benchmarks/analyze.tsv"
    shell:
        "python -m batch_momentum analyze --params {PARAMS} --tables reports/tables --timing {input.timing}"
        " --momentum {input.momentum} --out {output.lecture} --metrics {output.metrics} > {log} 2>&1"


rule report:
    input:
        tables=expand("reports/tables/{table}.csv", table=TABLES),
        timing="results/timing/timing.csv",
        interpolation=expand("results/interpolation/{pair}.json", pair=PAIRS),
        momentum="results/momentum/critical.json",
        lecture="reports/lecture.json",
        code=code("report"),
    output:
        page=report("reports/index.html", caption=f"{CAPTIONS}/page.rst", category=CAT.lecture, subcategory="page"),
        # every PNG the step draws, each in the category of its lecture row, captioned by name
        figures=report(
            directory("reports/figures"),
            patterns=["{name}.png"],
            caption=f"{CAPTIONS}/figures.rst",
            category=lambda wildcards: figure_category(wildcards.name),
            subcategory="figures",
        ),
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
