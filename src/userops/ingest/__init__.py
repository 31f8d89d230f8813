"""The ingestion pipeline shared by bulk file import and the HTTP API: stage, check, dedup, load.

Files are read by the engine itself (DuckDB's readers), rows are checked by SQL built from the
data contract (`userops.domain.contract`), and the load is one transaction: all or nothing.
"""
