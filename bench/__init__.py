"""Benchmark scripts; measure.py is the timing module they and backbones/compare.py share."""
