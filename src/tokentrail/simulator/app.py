"""The simulator's ASGI app: OpenAI, Anthropic and Bedrock runtime routes on one server."""

from __future__ import annotations

from fastapi import FastAPI

from tokentrail.simulator import anthropic_routes, bedrock_routes, openai_routes
from tokentrail.simulator.exchange import SimState
from tokentrail.simulator.profile import Profile


def create_app(profile: Profile | None = None, seed: int = 0) -> FastAPI:
    """A FastAPI app simulating the providers; `app.state.sim` holds the profile, seed and request log."""
    app = FastAPI(title="tokentrail provider simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sim = SimState(profile if profile is not None else Profile.default(), seed)
    app.include_router(openai_routes.router)
    app.include_router(anthropic_routes.router)
    app.include_router(bedrock_routes.router)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
