"""`python -m stylecam.realtime ...` (same as `python -m stylecam`) runs the stylecam command line."""
import sys

from .cli import main

sys.exit(main())
