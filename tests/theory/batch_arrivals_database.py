"""The database of the arrivals-in-groups theory tests (tests/theory/test_batch_arrivals*.py)
that a page reads three times, at once or spread by some work: pages per second, the mean work
of a read and the database's workers."""

PAGES = 333.0
DATABASE_WORK = 0.002
DATABASE_WORKERS = 4
