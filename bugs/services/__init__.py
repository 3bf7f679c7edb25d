"""Writes of the bugs app, one module per use case; import from the modules themselves."""
