"""The run folder: the only code that knows its file names; atomic writes, checkpoints, the registry."""
