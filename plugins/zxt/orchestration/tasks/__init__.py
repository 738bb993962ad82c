"""Airflow tasks of the DAGs, one module per stage. Each task calls the stage's function (the same
one the ``zxt`` command calls); heavy imports stay inside the task bodies, never at parse time."""
