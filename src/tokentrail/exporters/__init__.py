"""Metrics out of the store: Prometheus exposition (`prometheus`), CloudWatch PutMetricData (`cloudwatch`),
and Embedded Metric Format lines (`emf`). `aggregate` holds the SQL they share."""
