"""The whole round trip, using only Stripe's public API, the official SDK and the
emulator's control API - no network beyond loopback, no Stripe account.

    python -m stripe_emulator.examples.quickstart            # starts its own emulator
    python -m stripe_emulator.examples.quickstart --emulator http://127.0.0.1:12111

1. create a customer and a Checkout Session (SDK);
2. pay it as the customer would (control API);
3. receive ``checkout.session.completed``, verified with ``stripe.Webhook.construct_event``;
4. refund the payment (SDK) and receive ``charge.refunded``.

The webhook receiver is a plain ``http.server`` on a free loopback port: it knows
nothing about the emulator, exactly like a real application's endpoint.
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import stripe

from stripe_emulator.client import EmulatorControl
from stripe_emulator.testing import start_emulator

WEBHOOK_SECRET = "whsec_quickstart_secret"
API_KEY = "sk_test_quickstart"


class VerifiedEvents:
    """A webhook endpoint that verifies signatures and queues the events."""

    def __init__(self, secret: str) -> None:
        self.events: queue.Queue[stripe.Event] = queue.Queue()
        secret_ = secret
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                payload = self.rfile.read(int(self.headers["Content-Length"])).decode()
                try:
                    event = stripe.Webhook.construct_event(
                        payload, self.headers["Stripe-Signature"], secret_
                    )
                except (ValueError, stripe.SignatureVerificationError):
                    self.send_response(400)
                    self.end_headers()
                    return
                events.put(event)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, event_type: str, timeout: float = 10.0) -> stripe.Event:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            if event.type == event_type:
                return event
        raise TimeoutError(f"no verified {event_type} within {timeout}s")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run(emulator_url: str, receiver: VerifiedEvents) -> dict[str, Any]:
    control = EmulatorControl(emulator_url)
    control.add_endpoint(receiver.url, secret=WEBHOOK_SECRET)
    client = stripe.StripeClient(API_KEY, base_addresses={"api": emulator_url})

    customer = client.v1.customers.create(params={"email": "student@example.com"})
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": customer.id,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "gbp",
                        "unit_amount": 1000,
                        "product_data": {"name": "100 credits"},
                    },
                }
            ],
            "success_url": "https://example.com/success?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://example.com/cancel",
            "metadata": {"package": "100-credits"},
        }
    )
    print(f"session {session.id}: pay at {session.url}")

    control.pay(session.id, "4242424242424242")
    completed = receiver.wait_for("checkout.session.completed")
    paid = completed.data.object
    print(f"webhook {completed.id}: {completed.type}, payment_status={paid.payment_status}")

    refund = client.v1.refunds.create(params={"payment_intent": paid.payment_intent})
    refunded = receiver.wait_for("charge.refunded")
    print(f"refund {refund.id}: {refund.amount} {refund.currency}; webhook {refunded.type}")
    control.close()
    return {
        "customer": customer.id,
        "session": session.id,
        "payment_status": paid.payment_status,
        "payment_intent": paid.payment_intent,
        "refund": refund.id,
        "amount_refunded": refunded.data.object.amount_refunded,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emulator", help="URL of a running emulator (default: start one)")
    args = parser.parse_args(argv)
    receiver = VerifiedEvents(WEBHOOK_SECRET)
    try:
        if args.emulator:
            return run(args.emulator, receiver)
        with start_emulator() as emulator:
            return run(emulator.url, receiver)
    finally:
        receiver.close()


if __name__ == "__main__":
    main()
