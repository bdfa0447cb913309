"""mysql_redshift_assets: Dagster assets that keep Amazon Redshift in step with MySQL."""

__version__ = "0.1.0"
