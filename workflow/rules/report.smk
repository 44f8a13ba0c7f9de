# The claims and the report: read every other target of the plan (PLAN.report_inputs),
# so a new family's tables and figures reach the report without editing these rules.


rule claims:
    input:
        products=PLAN.report_inputs(),
        reference="paper/reference.yaml",
    output:
        report(
            PLAN.report_outputs()["claims"],
            caption="../report/claims.rst",
            category="Claims and report",
        ),
    params:
        tables_dir=paths.tables_dir(PLAN.budget),
    log:
        f"{RESULTS}/logs/claims.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m odebench.products.claims --tables-dir {params.tables_dir}"
        " --reference {input.reference} --out {output} > {log} 2>&1"


rule report:
    input:
        claims=PLAN.report_outputs()["claims"],
        products=PLAN.report_inputs(),
        template="paper/report_template.md",
    output:
        report=report(
            PLAN.report_outputs()["report"],
            caption="../report/report_md.rst",
            category="Claims and report",
        ),
        landing=str(paths.report_landing(PLAN.budget)),
    params:
        results=lambda wildcards, output: Path(output.report).parent,
    log:
        f"{RESULTS}/logs/report.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m odebench.products.report --results {params.results} --template {input.template}"
        " --out {output.report} --landing {output.landing} > {log} 2>&1"


# The DAG's last rule, where the budget has a committed reference run (reference/<budget>/):
# this run's numbers and verdicts against the reference's, each difference judged against
# the seed spread. The reference is only read.
if PLAN.reference():

    rule compare:
        input:
            claims=PLAN.report_outputs()["claims"],
            products=PLAN.report_inputs(),
            reference=PLAN.reference_inputs(),
        output:
            md=PLAN.comparison_outputs()[0],
            csv=PLAN.comparison_outputs()[1],
        params:
            run=paths.budget_dir(PLAN.budget),
            reference=PLAN.reference(),
        log:
            f"{RESULTS}/logs/compare.log",
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        shell:
            "python -m odebench.products.compare --run {params.run} --reference {params.reference}"
            " --out {output.md} --csv {output.csv} > {log} 2>&1"


# The PDF needs LaTeX: `rule all` asks for it only where latexmk is on the PATH (Plan.latex);
# asked for by name without it, the rule fails in one line.
rule report_pdf:
    input:
        claims=PLAN.report_outputs()["claims"],
        products=PLAN.report_inputs(),
        source="paper/manuscript.tex",
    output:
        str(paths.report_pdf(PLAN.budget)),
    params:
        results=lambda wildcards, output: Path(output[0]).parent,
    log:
        f"{RESULTS}/logs/report_pdf.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python -m odebench.products.manuscript --results {params.results} --source {input.source}"
        " --out {output} > {log} 2>&1"


onstart:
    if not PLAN.latex:
        print(
            f"odebench: latexmk not found: skipping {paths.report_pdf(PLAN.budget)}"
            " (report.md and the HTML report do not need it)",
            file=sys.stderr,
        )


# Snakemake's log of an invocation that made runs is kept with them: the report quotes its
# elapsed time and where it went (odebench.products.invocation). An invocation that only
# re-rendered products, or had nothing to do, leaves the last one's in place.
onsuccess:
    from odebench.products import invocation  # pandas: not needed to plan

    # Snakemake 9 hands over a list of log files (none under --quiet).
    for file in [log] if isinstance(log, str) else list(log or []):
        if Path(file).is_file() and invocation.runs_made(Path(file).read_text()):
            paths.snakemake_log(PLAN.budget).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, paths.snakemake_log(PLAN.budget))
            break
