# Table 2 and Figure 8: latent ODE vs RNNs on irregularly sampled spirals.


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


rule train_spirals:
    input:
        data=PLAN.spirals_data,
    output:
        metrics=f"{PLAN.run_dir('spirals')}/{paths.METRICS_JSON}",
        history=f"{PLAN.run_dir('spirals')}/{paths.HISTORY_CSV}",
        predictions=f"{PLAN.run_dir('spirals')}/{paths.PREDICTIONS_CSV}",
    log:
        f"{PLAN.run_dir('spirals')}/{paths.TRAIN_LOG}",
    params:
        run=PLAN.run_config("spirals"),
        out=lambda wildcards, output: Path(output.metrics).parent,
    wildcard_constraints:
        arm=r"[a-z_]+-n\d+",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=PLAN.runtime_min("spirals"),
        gpu=0,  # trains on the CPU whatever the device (odebench.pipeline.config.GPU_FAMILIES)
    shell:
        "python -m odebench.spirals train --run-config {params.run:q} --out {params.out}"
        " --threads {threads} > {log} 2>&1"
