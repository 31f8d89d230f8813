"""The application database: operators, API keys, audit log and import runs (SQLAlchemy 2).

Transactional state lives here, analytical data lives in the warehouse. Services open a
transaction with `db.session_scope` and call the small keyword-only repository functions of
`operators`, `api_keys`, `audit` and `import_runs`; the schema changes only through the Alembic
migrations packaged in `migrations/` and run by `migrate.upgrade`.
"""
