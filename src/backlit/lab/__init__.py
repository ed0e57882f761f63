"""The lab: what backlit computes about a network, above the library and below the product.

``data`` (the 2-D sets and features), ``kinds`` (binary, multiclass, regression), ``trace`` (the step
recorder), ``graph`` (the computation graph of a step), ``gradflow`` (per-layer gradient norms),
``worked`` (worked examples as Markdown) and ``fit`` (the one training loop). It imports ``engine`` and
``nn``, and nothing above them.
"""
