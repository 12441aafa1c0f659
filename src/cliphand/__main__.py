import sys

from cliphand.cli import main

sys.exit(main())
