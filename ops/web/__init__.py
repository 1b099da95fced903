"""Web helpers shared by mashlink's HTTP apps (offline API docs)."""
