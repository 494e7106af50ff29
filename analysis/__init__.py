"""Deterministic radiogrammetry: arrays and dataclasses in, dataclasses out.

Only :mod:`dxr.analysis.intake` reads files; every other module is pure computation.
"""
