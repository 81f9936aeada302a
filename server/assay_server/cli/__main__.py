"""``python -m assay_server.cli``: the ``assay-server`` command (``run`` starts the
scheduler this way)."""

from __future__ import annotations

import sys

from . import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
