"""`aframe-dag build`: the planned Workflow rendered into the condor dir's files (submit commands, DAG lines, quoting)
and written there, with what the run will cost, what earlier runs already did, and what build prints."""
