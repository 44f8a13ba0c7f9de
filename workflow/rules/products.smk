# Every table and figure of odebench.products.registry, one wildcard rule per kind of file:
# a new product is a registry entry and its builder, never a new rule.


rule table:
    input:
        unpack(PLAN.table_inputs),
        reference="paper/reference.yaml",
    output:
        csv=report(
            f"{RESULTS}/tables/{{table}}.csv",
            caption="../report/product.rst",
            category=lambda wildcards: registry.category(registry.TABLES[wildcards.table]),
        ),
    params:
        inputs=lambda wildcards, input: json.dumps(
            {name: list(input[name]) for name in registry.TABLES[wildcards.table].inputs}
        ),
        settings=PLAN.table_settings,
        caption=lambda wildcards: registry.TABLES[wildcards.table].description,
    wildcard_constraints:
        table=PLAN.names(registry.BUILT_TABLES, documents=False),
    log:
        f"{RESULTS}/logs/{{table}}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "python -m odebench.products table {wildcards.table} --inputs {params.inputs:q}"
        " --settings {params.settings:q} --reference {input.reference} --out {output.csv}"
        " > {log} 2>&1"


# The same, for the tables that come with a readable .md (with notes) and a .tex.
use rule table as table_with_documents with:
    output:
        csv=report(
            f"{RESULTS}/tables/{{table}}.csv",
            caption="../report/product.rst",
            category=lambda wildcards: registry.category(registry.TABLES[wildcards.table]),
        ),
        md=f"{RESULTS}/tables/{{table}}.md",
        tex=f"{RESULTS}/tables/{{table}}.tex",
    wildcard_constraints:
        table=PLAN.names(registry.BUILT_TABLES, documents=True),


rule figure:
    input:
        PLAN.figure_inputs,
    output:
        report(
            f"{RESULTS}/figures/{{figure}}.png",
            caption="../report/product.rst",
            category=lambda wildcards: registry.category(registry.FIGURES[wildcards.figure]),
        ),
    params:
        caption=lambda wildcards: registry.FIGURES[wildcards.figure].description,
    wildcard_constraints:
        figure=PLAN.names(registry.FIGURES),
    log:
        f"{RESULTS}/logs/{{figure}}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "python -m odebench.products figure {wildcards.figure} --tables {input:q}"
        " --out {output} > {log} 2>&1"
