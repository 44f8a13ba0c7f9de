# Figure 3's memory-scaling measurement. Table 1's training runs and the probes of the
# trained ODE-Nets are run families (odebench.mnist.family): workflow/rules/train.smk.


rule memory_scaling:
    output:
        report(
            PLAN.table(registry.MEMORY_SCALING.name),
            caption="../report/product.rst",
            category=registry.category(registry.MEMORY_SCALING),
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
