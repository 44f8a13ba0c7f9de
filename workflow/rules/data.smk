# Data preparation: every data set is fetched once, verified, and cached under resources/.


rule mnist_data:
    output:
        config["data"]["mnist_npz"],
    params:
        source=(
            f"--mnist-dir {config['data']['mnist_dir']}" if config["data"].get("mnist_dir") else ""
        ),
    log:
        "resources/logs/mnist_data.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m odebench.mnist.data --out {output} {params.source} > {log} 2>&1"
