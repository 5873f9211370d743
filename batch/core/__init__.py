"""Pure logic, no I/O: states, input schema, timing, pacing, cost, progress, fingerprint."""
