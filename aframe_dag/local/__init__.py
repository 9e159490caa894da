"""The local executor: the rendered DAG run on one machine with DAGMan's semantics (DESIGN §7)."""
