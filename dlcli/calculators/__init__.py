"""The calculators: feature-map sizes and receptive fields, in pure Python (no torch, numpy)."""
