"""Prompt governance: immutable versions, four-eyes approval, stages, rollback and a hash-chained audit log.

Layers: `content` (what a version holds, its content id), `events` (the event log, its hash chain and the
pure fold that derives state), `registry` (the rules, over a store). See docs/prompts.md.
"""
