"""Abuse limits, the client address behind a proxy, security headers and their retention."""
