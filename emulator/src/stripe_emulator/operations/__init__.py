"""State changes of the emulated Stripe account, independent of HTTP.

The Stripe API routers, the hosted checkout page and the control API all call these,
so a payment made on the page and one made through ``/_emulator/`` are the same
payment, with the same events.
"""
