"""Training data (the synthetic hand radiograph generator) and network training."""
