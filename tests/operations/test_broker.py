"""The Redis transport (``ohifsite.broker``) against the real Redis: every message a channel
sends goes through one client, made again only when the channel's connection pool is."""

import base64
import json
import os
import uuid

import pytest
import redis
from kombu import Connection, Exchange, Producer, Queue


@pytest.fixture
def url():
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        pytest.skip("the embedded broker is a folder")
    return os.environ["CELERY_BROKER_URL"]


@pytest.fixture
def channel(url):
    with Connection(url, transport="ohifsite.broker:Transport") as connection:
        yield connection.default_channel


def test_a_channel_sends_every_message_through_one_client(channel, url):
    name = f"broker-test-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name), routing_key=name)
    producer = Producer(channel, exchange=queue.exchange, routing_key=name)
    producer.declare()
    queue(channel).declare()
    try:
        producer.publish({"n": 1}, serializer="json")
        first = channel._create_client()
        producer.publish({"n": 2}, serializer="json")
        assert channel._create_client() is first

        channel._pool = None  # as kombu does when it drops its connections
        producer.publish({"n": 3}, serializer="json")
        assert channel._create_client() is not first

        sent = redis.Redis.from_url(url).lrange(name, 0, -1)
        bodies = sorted(
            json.loads(base64.b64decode(json.loads(message)["body"]))["n"] for message in sent
        )
        assert bodies == [1, 2, 3]
    finally:  # the queue and kombu's bindings of it
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"*{name}*"):
            client.delete(key)
