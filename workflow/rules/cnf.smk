# Section 4 and FFJORD: Figure 4 (density matching), Figure 5 (maximum likelihood) and the
# cost of the CNF's trace. Runs are small and single-threaded: Snakemake runs them side by side.


rule train_density:
    output:
        metrics=f"{PLAN.run_dir('cnf_density')}/{paths.METRICS_JSON}",
        history=f"{PLAN.run_dir('cnf_density')}/{paths.HISTORY_CSV}",
        grid=f"{PLAN.run_dir('cnf_density')}/{paths.GRID_CSV}",
    log:
        f"{PLAN.run_dir('cnf_density')}/{paths.TRAIN_LOG}",
    params:
        run=PLAN.run_config("cnf_density"),
        out=lambda wildcards, output: Path(output.metrics).parent,
    wildcard_constraints:
        arm=r"[a-z_]+-[a-z]+\d+",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=PLAN.runtime_min("cnf_density"),
        gpu=0,  # trains on the CPU whatever the device (odebench.pipeline.config.GPU_FAMILIES)
    shell:
        "python -m odebench.cnf train --run-config {params.run:q} --out {params.out}"
        " --threads {threads} > {log} 2>&1"


rule train_likelihood:
    output:
        metrics=f"{PLAN.run_dir('cnf_likelihood')}/{paths.METRICS_JSON}",
        history=f"{PLAN.run_dir('cnf_likelihood')}/{paths.HISTORY_CSV}",
        frames=f"{PLAN.run_dir('cnf_likelihood')}/{paths.FRAMES_CSV}",
    log:
        f"{PLAN.run_dir('cnf_likelihood')}/{paths.TRAIN_LOG}",
    params:
        run=PLAN.run_config("cnf_likelihood"),
        out=lambda wildcards, output: Path(output.metrics).parent,
    wildcard_constraints:
        arm=r"[a-z_]+-[a-z]+",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=PLAN.runtime_min("cnf_likelihood"),
        gpu=0,  # trains on the CPU whatever the device (odebench.pipeline.config.GPU_FAMILIES)
    shell:
        "python -m odebench.cnf train --run-config {params.run:q} --out {params.out}"
        " --threads {threads} > {log} 2>&1"


rule trace_study:
    output:
        metrics=f"{PLAN.run_dir('cnf_trace')}/{paths.METRICS_JSON}",
        rows=f"{PLAN.run_dir('cnf_trace')}/{paths.TRACE_CSV}",
    log:
        f"{PLAN.run_dir('cnf_trace')}/{paths.TRAIN_LOG}",
    params:
        run=PLAN.run_config("cnf_trace"),
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
        "python -m odebench.cnf trace --run-config {params.run:q} --out {params.out}"
        " --threads {threads} > {log} 2>&1"
