"""MNIST (Table 1, Figure 3): data, the Table 1 arms, training, probes of trained
ODE-Nets, and memory scaling.

``python -m odebench.mnist --run-config '{...}' --out DIR`` trains one run
(:mod:`odebench.mnist.train`). May import
:mod:`odebench.core` only (never another experiment, the products or the pipeline);
``family.py`` declares its run families and ``arms.py`` its arms, both free of torch.
"""
