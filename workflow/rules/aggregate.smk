# Aggregation: tables from the runs' metrics (never from a glob: exactly the configured runs).


rule table1:
    input:
        metrics=PLAN.mnist_metrics(),
        reference="paper/reference.yaml",
    output:
        csv=report(
            PLAN.table_outputs("table1_mnist")["csv"],
            caption="../report/table1.rst",
            category="Table 1: MNIST",
        ),
        md=PLAN.table_outputs("table1_mnist")["md"],
        tex=PLAN.table_outputs("table1_mnist")["tex"],
    params:
        prefix=lambda wildcards, output: Path(output.csv).with_suffix(""),
    log:
        f"{RESULTS}/logs/table1.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m odebench.products.tables table1 {input.metrics} --reference {input.reference}"
        " --out {params.prefix} > {log} 2>&1"
