"""Profiles, directives and plans: the simulator's decisions, without HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from tokentrail.simulator import Directive, DirectiveError, Profile, ProfileError
from tokentrail.simulator.plan import Ask, Tool, make_plan
from tokentrail.simulator.server import load_profile

DEFAULT = Profile.default()
ASK = Ask(model="gpt-4o-mini", text="How long until the first token?")


def plan(
    ask: Ask = ASK, profile: Profile = DEFAULT, seed: int = 0, attempt: int = 0, **directive: Any
) -> Any:
    return make_plan(profile, seed, b"/v1/chat/completions\nbody", attempt, ask, Directive(**directive))


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
        ("openai", "gpt-4.1-mini"),
        ("openai", "text-embedding-3-small"),
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-haiku-4-5"),
        ("anthropic", "claude-3-5-haiku-20241022"),
        ("aws", "amazon.nova-lite-v1:0"),
        ("aws", "amazon.nova-pro-v1:0"),
        ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("aws", "us.anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("aws", "meta.llama3-1-8b-instruct-v1:0"),
    ],
)
def test_default_models_have_their_own_entry_and_a_price(provider: str, model: str) -> None:
    assert DEFAULT.for_model(model) is not DEFAULT.defaults
    price = calc_price(Usage(input_tokens=1000, output_tokens=100), model_ref=model, provider_id=provider)
    assert price.total_price > 0


def test_first_matching_glob_wins() -> None:
    assert DEFAULT.for_model("gpt-4o-mini-2024-07-18").tokens_per_s == 85
    assert DEFAULT.for_model("gpt-4o-2024-08-06").tokens_per_s == 70
    assert DEFAULT.for_model("text-embedding-3-large").embedding_dimensions == 3072
    assert DEFAULT.for_model("no-such-model") is DEFAULT.defaults


def test_model_entries_merge_sub_tables_over_defaults() -> None:
    profile = Profile.from_toml(
        """
        [defaults]
        cache = { min_tokens = 10, hit_rate = 0.2 }
        [[model]]
        match = "m*"
        cache = { hit_rate = 1.0 }
        """
    )
    assert profile.for_model("m1").cache.hit_rate == 1.0 and profile.for_model("m1").cache.min_tokens == 10
    assert profile.defaults.cache.hit_rate == 0.2


def test_flaky_profile_extends_the_default() -> None:
    flaky = Profile.named("flaky")
    assert flaky.for_model("gpt-4o").errors.rate_limit == 0.03
    assert flaky.for_model("gpt-4o").tokens_per_s == DEFAULT.for_model("gpt-4o").tokens_per_s
    assert DEFAULT.for_model("gpt-4o").errors.rate_limit == 0.0


def test_profiles_load_from_files_and_extend_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(
        '[defaults]\ntokens_per_s = 7\n[[model]]\nmatch = "b*"\ntokens_per_s = 9\n'
    )
    (tmp_path / "child.toml").write_text(
        'extends = "base.toml"\ntime_scale = 0.5\n[defaults.errors]\ntimeout = 0.1\n'
    )
    child = Profile.load(tmp_path / "child.toml")
    assert child.time_scale == 0.5 and child.for_model("bee").tokens_per_s == 9
    assert child.for_model("other").tokens_per_s == 7 and child.for_model("bee").errors.timeout == 0.1
    assert load_profile(tmp_path / "child.toml") == child
    assert load_profile("flaky") == Profile.named("flaky") and load_profile(None) == DEFAULT
    with pytest.raises(ProfileError, match="no packaged profile"):
        Profile.named("nope")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[defaults]\nttft = 3", "unknown key(s) in defaults: ttft"),
        ("[[model]]\ntokens_per_s = 3", "model[0] needs a 'match'"),
        ("[defaults]\nttft_ms = { sigma = 1 }", "defaults.ttft_ms needs a 'median'"),
        ("[defaults]\ntokens_per_s = -1", "defaults.tokens_per_s must be a non-negative number"),
        ("[defaults.cache]\nrequires_marker = 1", "defaults.cache.requires_marker must be true or false"),
        ("[defaults", "not valid TOML"),
    ],
)
def test_profile_errors_name_the_key(toml: str, message: str) -> None:
    with pytest.raises(
        ProfileError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        Profile.from_toml(toml)


def test_the_same_request_gets_the_same_plan() -> None:
    assert plan() == plan()
    assert plan().header() == plan().header()
    assert plan(seed=1) != plan(seed=0)
    assert plan(attempt=1) != plan(attempt=0)


def test_directives_override_one_aspect_only() -> None:
    base, steered = plan(), plan(ttft_ms=123)
    assert steered.ttft_ms == 123 and base.ttft_ms != 123
    assert steered.pieces == base.pieces and steered.itl_ms == base.itl_ms


def test_input_tokens_count_characters() -> None:
    assert plan(Ask("gpt-4o", "x" * 9)).input_tokens == 3
    assert plan(Ask("gpt-4o", "x" * 8)).input_tokens == 2


def test_time_scale_shrinks_sampled_durations_only() -> None:
    slow, fast = plan(), plan(profile=DEFAULT.scaled(0.1))
    assert fast.ttft_ms == pytest.approx(slow.ttft_ms * 0.1, abs=0.1)
    assert fast.output_tokens == slow.output_tokens
    assert plan(profile=DEFAULT.scaled(0.1), ttft_ms=50).ttft_ms == 50


def test_chunks_and_gaps_follow_tokens_per_chunk() -> None:
    result = plan(Ask("claude-haiku-4-5", "hi"), output_tokens=10, itl_ms=4)
    assert result.chunks == 4 and result.itl_ms == (4.0, 4.0, 4.0)  # 3 + 3 + 3 + 1 tokens
    assert len(result.content.split()) == 10
    assert result.due_ms() == [result.ttft_ms + 4.0 * i for i in range(4)]


def test_max_tokens_truncates_with_length() -> None:
    result = plan(Ask("gpt-4o", "hi", max_tokens=5), output_tokens=50)
    assert (result.output_tokens, result.finish) == (5, "length")


def test_openai_cache_reads_come_in_steps_of_128() -> None:
    profile = Profile.from_toml(
        '[[model]]\nmatch = "*"\ncache = { hit_rate = 1.0, read_fraction = 0.9, granularity = 128 }'
    )
    result = plan(Ask("gpt-4o", "x" * 12000), profile=profile)
    assert result.input_tokens == 3000 and result.cache_read_tokens == 2688


def test_anthropic_style_cache_needs_a_marker() -> None:
    profile = Profile.from_toml('[[model]]\nmatch = "*"\ncache = { hit_rate = 1.0, requires_marker = true }')
    assert plan(Ask("claude-haiku-4-5", "x" * 8000), profile=profile).cache_read_tokens == 0
    marked = Ask("claude-haiku-4-5", "x" * 8000, cache_marked=True)
    assert plan(marked, profile=profile).cache_read_tokens == 1600


def test_profile_error_rates_fail_requests() -> None:
    always = Profile.from_toml("[defaults.errors]\nrate_limit = 1.0")
    assert plan(profile=always).failure is not None and plan(profile=always).failure.status == 429
    assert plan(profile=always, fail=[]).failure is None  # a directive's fail list replaces the profile
    midstream = Profile.from_toml("[defaults.errors]\nmidstream = 1.0")
    assert plan(profile=midstream).failure.mode == "status"  # a plain response cannot fail midway
    streamed = Ask("gpt-4o", "hi", stream=True)
    assert plan(streamed, profile=midstream).failure.mode == "midstream"


def test_fail_list_is_indexed_by_attempt() -> None:
    assert [plan(attempt=a, fail=[429, "timeout", 0]).failure for a in range(4)] == [
        plan(attempt=0, fail=[429]).failure,
        plan(attempt=1, fail=[0, "timeout"]).failure,
        None,
        None,
    ]
    assert plan(attempt=1, fail=[429, "timeout"]).failure.mode == "timeout"


def test_midstream_failure_truncates_the_content() -> None:
    streamed = Ask("gpt-4o", "hi", stream=True)
    result = plan(streamed, output_tokens=10, fail=[529], fail_mode="midstream", fail_after=3)
    assert (result.chunks, result.output_tokens, result.finish) == (3, 3, "error")
    assert result.failure.status == 529 and result.failure.after_chunks == 3


def test_tool_calls_follow_the_schema() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    ask = Ask("gpt-4o", "weather?", tools=(Tool("forecast", schema),))
    result = plan(ask, tool_call="forecast")
    assert result.tool is not None and result.finish == "tool"
    arguments = json.loads(result.content)
    assert set(arguments) == {"city", "days"} and isinstance(arguments["days"], int)
    assert plan(ask, tool_call=False).tool is None


def test_header_lists_gaps_or_summarises_them() -> None:
    short = json.loads(plan(output_tokens=5, itl_ms=2).header())
    assert short["itl_ms"] == [2.0] * 4 and short["chunks"] == 5
    long = json.loads(plan(output_tokens=200, itl_ms=2).header())
    assert long["itl_ms"] == {"n": 199, "mean": 2.0, "p50": 2.0, "p95": 2.0, "max": 2.0}


def test_stall_directive_adds_to_one_gap() -> None:
    result = plan(output_tokens=5, itl_ms=2, stall_ms=300, stall_after=1)
    assert result.itl_ms == (2.0, 302.0, 2.0, 2.0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "not JSON"),
        ("[1]", "must be a JSON object"),
        ('{"ttft": 1}', "unknown x-tokentrail-sim key"),
        ('{"fail": [200]}', "fail entries"),
        ('{"fail": "429"}', "fail must be a list"),
        ('{"fail_mode": "later"}', "fail_mode must be one of"),
        ('{"output_tokens": 0}', "output_tokens must be an integer >= 1"),
        ('{"ttft_ms": -1}', "ttft_ms must be a non-negative number"),
        ('{"tool_call": true}', "tool_call must be a tool name or false"),
    ],
)
def test_bad_directives_are_rejected(raw: str, message: str) -> None:
    with pytest.raises(DirectiveError, match=message):
        Directive.parse(raw)
