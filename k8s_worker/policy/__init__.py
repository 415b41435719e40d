"""Scale and heal policies run from events: pure decisions, and the engine
that turns them into journaled automatic operations."""
