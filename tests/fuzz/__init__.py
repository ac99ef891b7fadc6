"""Fuzz targets for the policy loader, `evaluate` and the price-path reader (issue 15); see `targets.py`."""
