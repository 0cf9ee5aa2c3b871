"""The harness test suite (a package, so that its helpers have one module name each)."""
