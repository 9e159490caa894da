"""What analysts do with a run after `build`: submit or resubmit it, invalidate nodes, stop or attach to a local run,
clean up (issue 13)."""
