"""Alembic migration environment of the application database, shipped inside the package."""
