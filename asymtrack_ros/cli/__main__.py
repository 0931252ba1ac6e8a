"""``python -m asymtrack_ros.cli`` (torchrun runs training this way)."""

import sys

from .main import main

sys.exit(main())
