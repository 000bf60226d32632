"""`python -m gateway` is `edigw`."""

import sys

from gateway.cli import main

sys.exit(main())
