"""Deciding: a batch scored (`scorer`), driven through its steps (`batch`) by the decision service (`service`)."""
