# Figure 3 and the solver studies: probes of the trained ODE-Nets, memory scaling,
# their tables and figures.


rule probe_odenet:
    input:
        metrics=f"{PLAN.mnist_run_dir}/{paths.METRICS_JSON}",
        data=config["data"]["mnist_npz"],
    output:
        sweep=f"{PLAN.probe_run_dir}/{paths.SWEEP_CSV}",
        reversibility=f"{PLAN.probe_run_dir}/{paths.REVERSIBILITY_CSV}",
        backward=f"{PLAN.probe_run_dir}/{paths.BACKWARD_NFE_CSV}",
        metrics=f"{PLAN.probe_run_dir}/{paths.METRICS_JSON}",
    log:
        f"{PLAN.probe_run_dir}/{paths.PROBE_LOG}",
    params:
        spec=PLAN.probe_spec(),
        train_dir=lambda wildcards, input: Path(input.metrics).parent,
        out=lambda wildcards, output: Path(output.metrics).parent,
    wildcard_constraints:
        arm=r"odenet-tol[0-9.e+-]+",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "python -m odebench.mnist.probe --train-dir {params.train_dir} --out {params.out}"
        " --spec {params.spec:q} --threads {threads} > {log} 2>&1"


rule memory_scaling:
    output:
        csv=PLAN.study_tables()["memory_scaling"],
    log:
        f"{RESULTS}/logs/memory_scaling.log",
    params:
        spec=PLAN.memory_spec(),
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    shell:
        "python -m odebench.mnist.memory_scaling --spec {params.spec:q} --out {output.csv} > {log} 2>&1"


rule solver_study_tables:
    input:
        probes=expand("{probe}/{name}", probe=PLAN.probe_dirs(), name=paths.METRICS_JSON),
        steps=expand("{run}/{name}", run=PLAN.probed_training_dirs(), name=paths.STEPS_CSV),
    output:
        **{name: path for name, path in PLAN.study_tables().items() if name != "memory_scaling"},
    log:
        f"{RESULTS}/logs/solver_study_tables.log",
    params:
        probes=PLAN.probe_dirs(),
        runs=PLAN.probed_training_dirs(),
        bins=PLAN.run["solver_studies"]["training_bins_per_epoch"],
        out_dir=paths.tables_dir(PLAN.budget),
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "python -m odebench.products.tables.solver_studies --probes {params.probes} --train-runs {params.runs}"
        " --bins {params.bins} --out-dir {params.out_dir} > {log} 2>&1"


rule solver_study_figures:
    input:
        tables=list(PLAN.study_tables().values()),
    output:
        **{
            name: report(
                PLAN.figure(name),
                caption=f"../report/{name}.rst",
                category="Figure 3 and solver studies",
            )
            for name in SOLVER_STUDY_FIGURES
        },
    log:
        f"{RESULTS}/logs/solver_study_figures.log",
    params:
        names=SOLVER_STUDY_FIGURES,
        tables_dir=paths.tables_dir(PLAN.budget),
        figures_dir=paths.figures_dir(PLAN.budget),
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "python -m odebench.products.figures {params.names} --tables-dir {params.tables_dir}"
        " --out-dir {params.figures_dir} > {log} 2>&1"
