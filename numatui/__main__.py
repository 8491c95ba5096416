"""``python -m numatui``."""

import sys

from numatui.cli import main

sys.exit(main())
