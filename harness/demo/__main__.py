"""`python -m harness.demo`: the demo (`just demo`), or with `--trunk` the trunk demo."""

import sys

from harness.demo import main

sys.exit(main())
