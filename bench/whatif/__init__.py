"""What-if variants for ``bench/run.py --settings/--app``: measurements only, never deployed."""
