"""``python -m services.cli``: the ``huodian`` command."""

import sys

from services.cli import main

sys.exit(main())
