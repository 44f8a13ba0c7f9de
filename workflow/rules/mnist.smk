# Table 1 and Figure 3: one training run per arm (model, and tolerance for ODE models) and
# seed, a probe of every trained ODE-Net, and the memory-scaling measurement.


rule train_mnist:
    input:
        data=config["data"]["mnist_npz"],
    output:
        metrics=f"{PLAN.run_dir('mnist')}/{paths.METRICS_JSON}",
        history=f"{PLAN.run_dir('mnist')}/{paths.HISTORY_CSV}",
        steps=f"{PLAN.run_dir('mnist')}/{paths.STEPS_CSV}",
    log:
        f"{PLAN.run_dir('mnist')}/{paths.TRAIN_LOG}",
    params:
        run=PLAN.run_config("mnist"),
        out=lambda wildcards, output: Path(output.metrics).parent,
    wildcard_constraints:
        arm=r"[a-z]+(-tol[0-9.e+-]+)?",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: PLAN.run["threads"]
    resources:
        mem_mb=4000,
        runtime=PLAN.runtime_min("mnist"),
        gpu=PLAN.gpu,
    shell:
        "python -m odebench.mnist --run-config {params.run:q} --out {params.out}"
        " --threads {threads} > {log} 2>&1"


rule probe_odenet:
    input:
        metrics=f"{PLAN.run_dir('mnist')}/{paths.METRICS_JSON}",
        data=config["data"]["mnist_npz"],
    output:
        sweep=f"{PLAN.run_dir('probe')}/{paths.SWEEP_CSV}",
        reversibility=f"{PLAN.run_dir('probe')}/{paths.REVERSIBILITY_CSV}",
        backward=f"{PLAN.run_dir('probe')}/{paths.BACKWARD_NFE_CSV}",
        metrics=f"{PLAN.run_dir('probe')}/{paths.METRICS_JSON}",
    log:
        f"{PLAN.run_dir('probe')}/{paths.PROBE_LOG}",
    params:
        run=PLAN.run_config("probe"),
        out=lambda wildcards, output: Path(output.metrics).parent,
    wildcard_constraints:
        arm=r"odenet-tol[0-9.e+-]+",
        seed=r"\d+",
    conda:
        "../../environment.yml"
    threads: PLAN.run["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,  # the probe runs on the CPU whatever the device (odebench.mnist.probe)
    shell:
        "python -m odebench.mnist.probe --run-config {params.run:q} --out {params.out}"
        " --threads {threads} > {log} 2>&1"


rule memory_scaling:
    output:
        report(
            PLAN.table(registry.MEMORY_SCALING.name),
            caption="../report/product.rst",
            category=registry.MEMORY_SCALING.category,
        ),
    log:
        f"{RESULTS}/logs/memory_scaling.log",
    params:
        run=PLAN.memory_config(),
        caption=registry.MEMORY_SCALING.description,
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    shell:
        "python -m odebench.mnist.memory_scaling --run-config {params.run:q} --out {output}"
        " > {log} 2>&1"
