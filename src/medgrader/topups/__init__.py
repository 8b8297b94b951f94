"""Automatic top-up (issue 20): saved cards, settings, and attempts charged off-session."""
