"""The cold archive of sampled content: day-partitioned files on disk or S3, and reading them back."""
