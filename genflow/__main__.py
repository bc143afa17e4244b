"""``python -m genflow train|sample|eval ...``: the same as the ``genflow`` command."""

import sys

from genflow.app.cli import main

sys.exit(main())
