"""What each CLI verb does; the CLI only parses arguments and calls these."""
