"""``python -m examples.demo_broker --port N``: run the demo broker until SIGTERM."""

import sys

from examples.demo_broker.broker import main

sys.exit(main())
