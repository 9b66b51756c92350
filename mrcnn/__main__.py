"""`python -m mrcnn`: the `mrcnn` command."""

import sys

from mrcnn.cli import main

sys.exit(main())
