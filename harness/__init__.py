"""harness: a git-native research loop for ML experiments.

Kept free of imports so that `harness --help` and the pre-commit guard start fast.
"""

# The one source of the version: pyproject.toml reads it from here (setuptools'
# dynamic version), and so do `harness --version` and the workflow `harness init` writes.
__version__ = "0.1.0"

# The name in the package index; "harness" there is an unrelated project. The import
# package and the command stay `harness`.
DISTRIBUTION = "harness-research"
