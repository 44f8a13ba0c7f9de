# Table 2 and Figure 8: the spirals data set. The training runs are a run family
# (odebench.spirals.family): workflow/rules/train.smk.


rule spirals_data:
    output:
        PLAN.spirals_data,
    log:
        f"{RESULTS}/logs/spirals_data.log",
    params:
        run=PLAN.spirals_data_config(),
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m odebench.spirals data --run-config {params.run:q} --out {output} > {log} 2>&1"
