"""``python -m gwtl basin AREA``, ``python -m gwtl check-params params.yaml``: see :mod:`gwtl.cli`."""

import sys

from .cli import main

sys.exit(main())
