# odebench: a reproducible benchmark of "Neural Ordinary Differential Equations"
# (Chen et al., NeurIPS 2018). Run `snakemake --cores 2`; see README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"


# The HTML report opens on the verdict table once the DAG has written it.
report: PLAN.landing_page()


include: "workflow/rules/data.smk"
include: "workflow/rules/mnist.smk"
include: "workflow/rules/spirals.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/products.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        PLAN.targets(),
    default_target: True
