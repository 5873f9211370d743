"""The schedules file and the firing of its slots."""
