"""Pure risk math: numpy in, numbers out; no I/O, no database, no Prefect."""
