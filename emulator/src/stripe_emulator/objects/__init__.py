"""Builders for Stripe objects, field for field like Stripe's official fixtures.

Every top-level field of the examples in Stripe's ``fixtures3.json`` is present, with
the value Stripe itself would give in this emulator's situation (test mode, one GBP
account, no Connect, no tax), which is mostly null, false, {} or [].
"""
