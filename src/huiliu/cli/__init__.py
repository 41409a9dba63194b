"""The command line: ``huiliu demo``, ``serve``, ``worker``, ``flow validate``.

Owns: argument parsing, building the settings once, and what the user reads on the console (Chinese
first, ``--lang en`` for English).
"""

from huiliu.cli.main import app, main

__all__ = ["app", "main"]
