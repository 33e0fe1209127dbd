"""python -m exporter (see exporter/cli.py)."""
import sys

from exporter.cli import main

sys.exit(main())
