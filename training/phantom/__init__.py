"""Synthetic PA hand radiographs with exact ground truth."""
