# batch_momentum: the whole pipeline under Snakemake. `snakemake --cores all`.
# The grid lives in params.yaml; this file only expands it. Every rule calls
# `python -m batch_momentum <step>`; the logic is in src/batch_momentum/.

from snakemake.utils import min_version

min_version("9.0")

configfile: "params.yaml"


# `snakemake --report report.html` after a run: this description, then the results the rules tag
# with report(), grouped by the rows of the lecture's table (workflow/rules/common.smk).
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "reports/index.html",
    default_target: True
