# Table 1: one training run per arm (model, and tolerance for ODE models) and seed.


rule train_mnist:
    input:
        data=config["data"]["mnist_npz"],
    output:
        metrics=f"{PLAN.mnist_run_dir}/{paths.METRICS_JSON}",
        history=f"{PLAN.mnist_run_dir}/{paths.HISTORY_CSV}",
        steps=f"{PLAN.mnist_run_dir}/{paths.STEPS_CSV}",
    log:
        f"{PLAN.mnist_run_dir}/{paths.TRAIN_LOG}",
    params:
        run=PLAN.mnist_run_config,
        out=lambda wildcards, output: Path(output.metrics).parent,
    wildcard_constraints:
        arm=r"[a-z]+(-tol[0-9.e+-]+)?",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=PLAN.mnist_runtime_min(),
        gpu=PLAN.gpu,
    shell:
        "python -m odebench.mnist --run-config {params.run:q} --out {params.out}"
        " --threads {threads} > {log} 2>&1"
