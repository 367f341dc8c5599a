"""pydantic models: configuration, releases, plans, records."""
