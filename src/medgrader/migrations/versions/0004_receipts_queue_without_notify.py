"""receipt jobs are polled, not announced with NOTIFY

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

procrastinate announces every new job with pg_notify from a row trigger. A transaction that
has notified takes a database-wide lock at commit and holds it through the commit's WAL flush,
so every fulfilling webhook (whose transaction enqueues the receipt) committed one after
another. Measured on the development machine (2 cores, 16 pgbench clients): a bare job insert
went from about 5,200 to 9,100 tps without the NOTIFY, and bench/webhooks' pgbench ceiling for
the whole fulfilment transaction from about 1,100 to 1,560 tps. Receipts are not urgent: the
worker finds them by polling (about once a second). Jobs on every other queue keep their NOTIFY.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = "procrastinate_jobs_notify_queue_job_inserted_v1"


def _recreate(condition: str) -> None:
    op.execute(f"DROP TRIGGER {TRIGGER} ON procrastinate_jobs")
    op.execute(
        f"""
        CREATE TRIGGER {TRIGGER}
            AFTER INSERT ON procrastinate_jobs
            FOR EACH ROW WHEN ({condition})
            EXECUTE PROCEDURE procrastinate_notify_queue_job_inserted_v1()
        """
    )


def upgrade() -> None:
    # Keep in step with medgrader.jobs.queues.POLLED_QUEUES.
    _recreate("new.status = 'todo'::procrastinate_job_status AND new.queue_name <> 'receipts'")


def downgrade() -> None:
    _recreate("new.status = 'todo'::procrastinate_job_status")
