# Table 2 and Figure 8: latent ODE vs RNNs on irregularly sampled spirals.


rule spirals_data:
    output:
        PLAN.spirals_data,
    log:
        f"{RESULTS}/logs/spirals_data.log",
    params:
        spec=PLAN.spirals_data_spec(),
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m odebench.spirals data --out {output} --spec {params.spec:q} > {log} 2>&1"


rule train_spirals:
    input:
        data=PLAN.spirals_data,
    output:
        metrics=f"{PLAN.spirals_run_dir}/{paths.METRICS_JSON}",
        history=f"{PLAN.spirals_run_dir}/{paths.HISTORY_CSV}",
        predictions=f"{PLAN.spirals_run_dir}/{paths.PREDICTIONS_CSV}",
    log:
        f"{PLAN.spirals_run_dir}/{paths.TRAIN_LOG}",
    params:
        run=PLAN.spirals_run_config,
        out=lambda wildcards, output: Path(output.metrics).parent,
    wildcard_constraints:
        arm=r"[a-z_]+-n\d+",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=PLAN.spirals_runtime_min(),
    shell:
        "python -m odebench.spirals train --run-config {params.run:q} --out {params.out}"
        " --threads {threads} > {log} 2>&1"


rule table2:
    input:
        metrics=expand("{run}/{name}", run=PLAN.spirals_run_dirs(), name=paths.METRICS_JSON),
        reference="paper/reference.yaml",
    output:
        csv=report(
            PLAN.table_outputs("table2_spirals")["csv"],
            caption="../report/table2.rst",
            category="Table 2: spirals",
        ),
        md=PLAN.table_outputs("table2_spirals")["md"],
        tex=PLAN.table_outputs("table2_spirals")["tex"],
    params:
        prefix=lambda wildcards, output: Path(output.csv).with_suffix(""),
    log:
        f"{RESULTS}/logs/table2.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m odebench.products.tables table2 {input.metrics} --reference {input.reference}"
        " --out {params.prefix} > {log} 2>&1"


rule fig8_trajectories:
    input:
        expand("{run}/{name}", run=PLAN.fig8_run_dirs(), name=paths.PREDICTIONS_CSV),
    output:
        f"{RESULTS}/tables/fig8_trajectories.csv",
    params:
        runs=PLAN.fig8_run_dirs(),
    log:
        f"{RESULTS}/logs/fig8_trajectories.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m odebench.spirals collect {params.runs} --out {output} > {log} 2>&1"


rule spirals_figures:
    input:
        f"{RESULTS}/tables/fig8_trajectories.csv",
    output:
        **{
            name: report(
                PLAN.figure(name), caption=f"../report/{name}.rst", category="Table 2: spirals"
            )
            for name in SPIRALS_FIGURES
        },
    params:
        names=SPIRALS_FIGURES,
        tables_dir=paths.tables_dir(PLAN.budget),
        figures_dir=paths.figures_dir(PLAN.budget),
    log:
        f"{RESULTS}/logs/spirals_figures.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "python -m odebench.products.figures {params.names} --tables-dir {params.tables_dir}"
        " --out-dir {params.figures_dir} > {log} 2>&1"
