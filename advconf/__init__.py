"""advconf: low-precision, strongly regularised classifiers and confidence-aware attack evaluation."""

__version__ = "0.1.0"
