"""``python -m numatui``."""

import sys

from numatui.cli.run import main

sys.exit(main())
