"""``python -m gwtl basin AREA``, ``python -m gwtl check-params params.yaml``: see :mod:`gwtl.pipeline.cli`."""

import sys

from gwtl.pipeline.checkout_src import run_here

run_here("gwtl")

from gwtl.pipeline.cli import main  # noqa: E402

sys.exit(main())
