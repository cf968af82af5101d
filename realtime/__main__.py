"""`python -m realtime ...` runs the stylecam command line."""
import sys

from .cli import main

sys.exit(main())
