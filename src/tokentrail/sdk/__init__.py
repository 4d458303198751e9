"""The instrumentation SDK: choke points per provider SDK, stream timing, labels, traces, export.

Layout: `instance` (the `Tokentrail` object behind the public API), `config` (settings), `context` (labels,
trace state), `threads` (the context carried into threads), `spans` (trace/tool/round/degraded), `call`
(one LLM call -> one span), `worker` (the thread that makes the LLM spans, off the caller's thread),
`stream` (stream timing), `chokepoint` (the steps every choke point takes around an SDK call),
`stainless` (the openai/anthropic choke point) with the readers in `openai` and `anthropic`, `bedrock`
(botocore's choke point and readers), `types` (the types they share: readers, observers, classifiers),
`budget` (the budget guard and its refresher), `errors` (error classes; internal errors), `patching`,
`export` and `spool` (the OTLP exporter), `stats` (counters). Provider SDKs are imported only when
instrumented.
"""
