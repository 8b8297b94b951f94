"""Background jobs on a PostgreSQL-backed queue (procrastinate): no broker to operate."""
