"""Running the pipeline: the notebook runner, the command line, atomic outputs, cost clocks and per-well parallel jobs."""
