"""``python -m gwtl basin AREA``, ``python -m gwtl check-params params.yaml``: see :mod:`gwtl.cli`."""

import sys

from .checkout import run_here

run_here("gwtl")

from .cli import main  # noqa: E402

sys.exit(main())
