"""A built condor dir as every command after `build` reads it: the DAG a command means, each node's submit
description, and who runs that DAG right now."""
