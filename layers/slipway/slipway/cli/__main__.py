import sys

from slipway.cli import main

sys.exit(main())
