"""Queue and task names (no imports: task modules and the queue set-up both read them)."""

# Queues whose new jobs the worker finds by polling instead of a NOTIFY (migration 0004):
# enqueueing on them adds no database-wide lock to the enqueuing transaction's commit.
RECEIPTS_QUEUE = "receipts"
POLLED_QUEUES = (RECEIPTS_QUEUE,)

# The purchase receipt task's registered name (namespace "notifications" in medgrader.runtime).
RECEIPT_TASK = "notifications:send_purchase_receipt"

# The notice of credits taken back or returned (refunds, disputes), same namespace and queue.
RETURNS_NOTICE_TASK = "notifications:send_returns_notice"
# The email telling a student an automatic top-up failed (why, or a link to pay on-session).
TOP_UP_FAILED_TASK = "topups:send_top_up_failed"
# A subscription renewal's failed payment (subscriptions.tasks), same queue.
PAYMENT_FAILED_TASK = "subscriptions:send_payment_failed"
# Email tasks whose stalled jobs (worker killed mid-job) are put back in the queue.
EMAIL_TASKS = (RECEIPT_TASK, RETURNS_NOTICE_TASK, TOP_UP_FAILED_TASK, PAYMENT_FAILED_TASK)

# Automatic top-up: the job that charges a queued attempt (namespace "topups"), on a queue of
# its own (announced by NOTIFY: a student waits for these credits). Queued in SQL by
# ledger.threshold, so the names live here, below every domain.
TOP_UP_QUEUE = "top_ups"
TOP_UP_TASK = "topups:charge_top_up"

# VAT documents (namespace "documents"): issue what a payment is due (receipt, notes). On the
# polled queue: deferring it adds no NOTIFY lock to the enqueuing transaction's commit.
ISSUE_DOCUMENTS_TASK = "documents:issue_documents"
