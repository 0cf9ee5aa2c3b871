"""harness: a git-native research loop for ML experiments.

Kept free of imports so that `harness --help` and the pre-commit guard start fast.
"""

__version__ = "0.1.0"
