"""The run-steps layer: one module per feature, named like its flow and task.

Each step opens its own session, takes ``Settings`` as a parameter and orders pure functions
and repository calls; ``tasks/`` wrap these one to one and the CLI calls them without Prefect.
"""
