import sys

from reconciler.ticks.process import main

sys.exit(main())
