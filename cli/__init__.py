"""The ``sigmasight`` command line: the top layer, above the flows."""
