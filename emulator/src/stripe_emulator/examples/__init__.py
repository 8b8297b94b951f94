"""Runnable examples; ``python -m stripe_emulator.examples.quickstart``."""
