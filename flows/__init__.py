"""Prefect flows: they only order tasks (one file per deployable flow).

Importing this package changes nothing: the Prefect environment defaults are applied by the
entry points (``sigmasight.prefect_env``), before Prefect is imported.
"""
