"""`python -m stylecam ...` runs the stylecam command line."""
import sys

from stylecam.realtime.cli import main

sys.exit(main())
