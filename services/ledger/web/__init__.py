"""Web pages (网页) for department heads and viewers: sign in, see items, post updates."""
