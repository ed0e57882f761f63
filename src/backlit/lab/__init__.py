"""The lab: what backlit computes about a network, above the library and below the product.

``data`` (the 2-D sets and features), ``kinds`` (binary, multiclass, regression), ``trace`` (the step
recorder), ``graph`` (the computation graph of a step), ``gradflow`` (per-layer gradient norms),
``worked`` (worked examples as Markdown), ``fit`` (the one training loop) and ``expr`` (the expression
lab: a small safe grammar drawn as a graph with forward- and reverse-mode derivatives). It imports
``engine`` and ``nn``, and nothing above them.
"""
