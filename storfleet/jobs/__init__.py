"""Jobs: plain, idempotent functions taking a storage id (sync now; later collect and poll),
their due times in the database, and the runners: an in-process pool for the embedded mode
(Celery for scale-out runs the same functions, leases and due times)."""
