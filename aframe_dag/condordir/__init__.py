"""A built condor dir as every command after `build` reads it: its files' names, its DAG, each node's submit
description."""
