"""Adapters to the world outside: Stripe (the official SDK), SMTP, Google's certificates.

Infrastructure: built once per process (medgrader.runtime) and carried by the AppContext; they
import no domain, so every layer above may use them.
"""
