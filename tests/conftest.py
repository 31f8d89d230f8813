import os

pytest_plugins = ["tests.fixtures.postgres"]

# Servers started by tests (uvicorn subprocesses included) never refresh tags on their own.
os.environ.setdefault("USEROPS_TAGS_REFRESH_AT", "off")
