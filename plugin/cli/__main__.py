"""``python -m surrotag.cli``."""

import sys

from surrotag.cli import main

sys.exit(main())
