import sys

from slipway_dev.cli import main

sys.exit(main())
