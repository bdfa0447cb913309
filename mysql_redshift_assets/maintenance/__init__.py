"""Everyday operations (watermark edits, s3clean, validate, status), shared by the CLI and Dagster jobs."""
