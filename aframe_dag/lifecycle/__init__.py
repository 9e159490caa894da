"""What analysts do with a run after `build`: invalidate nodes, stop or attach to a local run, clean up (issue 13)."""
