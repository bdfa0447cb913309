"""This repository's `dg` defs folder: one `MysqlRedshiftComponent` (see `pipelines/defs.yaml`)."""
