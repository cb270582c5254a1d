"""``python -m gwtl basin AREA``: see :mod:`gwtl.cli`."""

import sys

from .cli import main

sys.exit(main())
