"""tokentrail: observability for LLM workloads."""
