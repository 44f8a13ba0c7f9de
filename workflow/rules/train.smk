# One training rule per run family, generated from its descriptor (odebench.families):
# train_mnist, probe_odenet, train_spirals, train_density, train_likelihood, trace_study.
# A run family joins the DAG by joining the registry, with no edit here. Each job makes
# one run directory, runs/<family>/<arm>/seed<seed>/, through the family's entry point.

for family in PLAN.run_families():

    rule:
        name:
            family.rule
        input:
            **PLAN.run_inputs(family.name),
        output:
            **PLAN.run_outputs(family.name),
        log:
            PLAN.run_log(family.name),
        params:
            command=family.command,
            run=PLAN.run_config(family.name),
            out=lambda wildcards, output: Path(output.metrics).parent,
        wildcard_constraints:
            arm=family.arm_pattern,
            seed=r"\d+",
        conda:
            "../../environment.yml"
        threads: PLAN.threads(family.name)
        priority: family.priority
        resources:
            mem_mb=family.mem_mb,
            runtime=PLAN.runtime_min(family.name),
            gpu=PLAN.gpus(family.name),
        shell:
            "python -m {params.command} --run-config {params.run:q} --out {params.out}"
            " --threads {threads} > {log} 2>&1"
