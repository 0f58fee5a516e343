from servicekit.db import run_migrations_in_env

run_migrations_in_env()
