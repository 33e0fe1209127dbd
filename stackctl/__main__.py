import sys

from stackgen import venv

venv.ensure()           # `python -m stackctl` outside .venv runs again under .venv's python
try:
    from stackctl.cli import main
except ModuleNotFoundError as exc:
    sys.exit(venv.missing_package(exc, "python -m stackctl"))

sys.exit(main())
