"""Credit holds for live usage (voice tutoring): create, extend, capture, release, expire."""
