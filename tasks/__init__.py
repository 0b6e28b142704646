"""Thin Prefect tasks: retries, caching and artifacts here; the work in ``lab1``."""
