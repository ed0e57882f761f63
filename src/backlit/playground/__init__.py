"""The playground's brain: one session of the page, in plain Python, with no I/O.

``session`` (the state and its actions: ``problem``, the frozen problem; ``learner``, what
training changes; ``replies``, every message it sends; ``sample``, the actions on one sample), ``settings`` (the config table, its checks and the schema the
page is built from), ``presets``, ``pacing``, ``palette``, ``csvdata`` (points from a CSV) and
``export`` (PyTorch code and ONNX). It imports ``engine``, ``nn`` and ``lab``; only ``server`` and
``cli`` import it.
"""
