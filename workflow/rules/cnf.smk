# Section 4 and FFJORD: Figure 4 (density matching), Figure 5 (maximum likelihood) and the
# cost of the CNF's trace. Runs are small and single-threaded: Snakemake runs them side by side.


rule train_density:
    output:
        metrics=f"{PLAN.density_run_dir}/{paths.METRICS_JSON}",
        history=f"{PLAN.density_run_dir}/{paths.HISTORY_CSV}",
        grid=f"{PLAN.density_run_dir}/{paths.GRID_CSV}",
    log:
        f"{PLAN.density_run_dir}/{paths.TRAIN_LOG}",
    params:
        run=PLAN.density_run_config,
        out=lambda wildcards, output: Path(output.metrics).parent,
    wildcard_constraints:
        arm=r"[a-z_]+-[a-z]+\d+",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=PLAN.cnf_runtime_min("density"),
    shell:
        "python -m odebench.cnf train --run-config {params.run:q} --out {params.out}"
        " --threads {threads} > {log} 2>&1"


rule train_likelihood:
    output:
        metrics=f"{PLAN.likelihood_run_dir}/{paths.METRICS_JSON}",
        history=f"{PLAN.likelihood_run_dir}/{paths.HISTORY_CSV}",
        frames=f"{PLAN.likelihood_run_dir}/{paths.FRAMES_CSV}",
    log:
        f"{PLAN.likelihood_run_dir}/{paths.TRAIN_LOG}",
    params:
        run=PLAN.likelihood_run_config,
        out=lambda wildcards, output: Path(output.metrics).parent,
    wildcard_constraints:
        arm=r"[a-z_]+-[a-z]+",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=PLAN.cnf_runtime_min("likelihood"),
    shell:
        "python -m odebench.cnf train --run-config {params.run:q} --out {params.out}"
        " --threads {threads} > {log} 2>&1"


rule trace_study:
    output:
        metrics=f"{PLAN.trace_run_dir}/{paths.METRICS_JSON}",
        rows=f"{PLAN.trace_run_dir}/{paths.TRACE_CSV}",
    log:
        f"{PLAN.trace_run_dir}/{paths.TRAIN_LOG}",
    params:
        spec=PLAN.trace_spec(),
        out=lambda wildcards, output: Path(output.metrics).parent,
    wildcard_constraints:
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "python -m odebench.cnf trace --spec {params.spec:q} --seed {wildcards.seed}"
        " --out {params.out} --threads {threads} > {log} 2>&1"


rule cnf_table:
    input:
        metrics=PLAN.cnf_table_metrics,
        reference="paper/reference.yaml",
    output:
        csv=report(
            f"{RESULTS}/tables/{{table}}.csv", caption="../report/cnf_table.rst", category="CNF"
        ),
        md=f"{RESULTS}/tables/{{table}}.md",
        tex=f"{RESULTS}/tables/{{table}}.tex",
    params:
        prefix=lambda wildcards, output: Path(output.csv).with_suffix(""),
    wildcard_constraints:
        table="|".join(CNF_TABLE_FAMILIES),
    log:
        f"{RESULTS}/logs/{{table}}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m odebench.products.tables {wildcards.table} {input.metrics}"
        " --reference {input.reference} --out {params.prefix} > {log} 2>&1"


rule cnf_figure_tables:
    input:
        grids=expand("{run}/{name}", run=PLAN.fig4_run_dirs(), name=paths.GRID_CSV),
        frames=expand("{run}/{name}", run=PLAN.fig5_run_dirs(), name=paths.FRAMES_CSV),
    output:
        grids=f"{RESULTS}/tables/fig4_densities.csv",
        frames=f"{RESULTS}/tables/fig5_frames.csv",
    params:
        grid_runs=PLAN.fig4_run_dirs(),
        frame_runs=PLAN.fig5_run_dirs(),
        grid=PLAN.grid_spec(),
    log:
        f"{RESULTS}/logs/cnf_figure_tables.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "(python -m odebench.cnf collect grids {params.grid_runs} --grid {params.grid:q}"
        " --out {output.grids} && python -m odebench.cnf collect frames {params.frame_runs}"
        " --out {output.frames}) > {log} 2>&1"


rule cnf_figures:
    input:
        f"{RESULTS}/tables/fig4_densities.csv",
        f"{RESULTS}/tables/fig5_frames.csv",
        PLAN.table_outputs("cnf_density_matching")["csv"],
    output:
        **{
            name: report(PLAN.figure(name), caption=f"../report/{name}.rst", category="CNF")
            for name in CNF_FIGURES
        },
    params:
        names=CNF_FIGURES,
        tables_dir=paths.tables_dir(PLAN.budget),
        figures_dir=paths.figures_dir(PLAN.budget),
    log:
        f"{RESULTS}/logs/cnf_figures.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "python -m odebench.products.figures {params.names} --tables-dir {params.tables_dir}"
        " --out-dir {params.figures_dir} > {log} 2>&1"
