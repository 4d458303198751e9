"""A fake LLM provider speaking the real OpenAI, Anthropic and Bedrock runtime wire protocols.

Responses are planned per request from a profile and a seed (see `plan`), paced on the wire, and their
truth is sent back in the ``x-tokentrail-sim-plan`` header. Tests steer single requests with the
``x-tokentrail-sim`` header (see `directive`). Details: docs/simulator.md.
"""

from tokentrail.simulator.app import create_app
from tokentrail.simulator.directive import DIRECTIVE_HEADER, PLAN_HEADER, Directive, DirectiveError
from tokentrail.simulator.exchange import RequestRecord
from tokentrail.simulator.profile import Profile, ProfileError
from tokentrail.simulator.server import SimulatorServer, run

__all__ = [
    "DIRECTIVE_HEADER",
    "PLAN_HEADER",
    "Directive",
    "DirectiveError",
    "Profile",
    "ProfileError",
    "RequestRecord",
    "SimulatorServer",
    "create_app",
    "run",
]
