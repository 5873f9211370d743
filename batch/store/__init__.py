"""Every SQL statement, and the only writer of job state."""
