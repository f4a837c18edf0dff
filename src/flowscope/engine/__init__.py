"""The execution core: events, hooks, the journal contract, run state and the runner."""
