"""The UI's pages, one module per area; each module's ``routes`` lists its routes."""

__all__: list[str] = []
