"""The command line: ``backlit`` (serve the playground; :mod:`backlit.cli.main`) and ``backlit train``
(train in the terminal, write plots, GIFs and exports), plus ``headless``, the Chromium and server
helpers for screenshots, benchmarks and browser tests."""
