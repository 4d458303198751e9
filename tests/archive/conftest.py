"""Archive fixtures: a store with redacted samples over two days, and moto's S3 server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from archive_data import DAY1, DAY2, add_samples, content_span
from tokentrail.store import Store


@pytest.fixture
async def sampled(store: Store) -> Store:
    """Three samples on DAY1, two on DAY2."""
    await add_samples(store, [content_span(n, DAY1 if n < 3 else DAY2) for n in range(5)])
    assert store.query("SELECT count(*) FROM samples").rows[0][0] == 5
    return store


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's S3 over HTTP on 127.0.0.1 (fake credentials, no metadata probing); yields its endpoint URL."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
        server.stop()


@pytest.fixture
def bucket(moto_s3: str, request: pytest.FixtureRequest) -> str:
    name = f"tt-{abs(hash(request.node.nodeid)) % 10**8}"
    boto3.client("s3", endpoint_url=moto_s3).create_bucket(Bucket=name)
    return name
