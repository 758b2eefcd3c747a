"""The provider registry actor: writes through the actor, lock-free reads,
a crash of the actor loses nothing, and the model-list cache."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import synapsis_actors as sa
from synapsis_actors.embedded import open_embedded_provider

from ._helpers import Served, hello


async def test_register_get_list_unregister(http1: Served, rt: sa.Runtime) -> None:
    config = http1.config()
    await rt.providers.register("b", config)
    await rt.providers.register("a", http1.config("openai"))
    assert rt.providers.list() == ["a", "b"]
    assert rt.providers.get("b") is config
    assert "a" in rt.providers
    client = rt.providers.entry("a").transport.client
    assert await rt.providers.unregister("a") is True
    assert client.is_closed
    assert await rt.providers.unregister("a") is False
    with pytest.raises(sa.ProviderNotFound, match="'a'"):
        rt.providers.get("a")
    with pytest.raises(sa.ConfigError, match="name"):
        await rt.providers.register("", config)
    with pytest.raises(sa.ConfigError, match="config"):
        await rt.providers.register("x", {"kind": "openai"})  # type: ignore[arg-type]


async def test_reregistering_replaces_the_client(http1: Served, rt: sa.Runtime) -> None:
    await rt.providers.register("p", http1.config())
    old = rt.providers.entry("p").transport.client
    await rt.providers.register("p", http1.config())  # equal config: kept
    assert rt.providers.entry("p").transport.client is old
    await rt.providers.register("p", http1.config(max_retries=5))
    assert rt.providers.entry("p").transport.client is not old
    assert old.is_closed
    assert rt.providers.get("p").max_retries == 5


async def test_closing_the_runtime_closes_every_client(http1: Served) -> None:
    async with sa.open_runtime() as rt:
        await rt.providers.register("p", http1.config())
        await rt.providers.register("q", http1.config("openai"))
        clients = [rt.providers.entry(name).transport.client for name in ("p", "q")]
        assert (await sa.complete(rt, "p", hello())).text
    assert all(client.is_closed for client in clients)
    assert rt.providers.list() == []
    with trio.fail_after(5):
        await http1.server.wait_connections(0)


async def test_a_crashed_registry_restarts_and_loses_nothing(http1: Served, rt: sa.Runtime) -> None:
    for name in ("one", "two", "three"):
        await rt.providers.register(name, http1.config())
    failures: list[BaseException] = []
    reads = 0
    stop = trio.Event()
    reading = trio.Event()

    async def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            if reads == 10:
                reading.set()
            try:
                assert rt.providers.get("two").kind == "anthropic"
                assert {"one", "two", "three"} <= set(rt.providers.list())
            except BaseException as exc:
                failures.append(exc)
            reads += 1
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await reading.wait()
        await rt.crash_registry("poisoned call")
        # the supervisor brought it back: writes work again
        await rt.providers.register("four", http1.config())
        before = reads
        while reads < before + 10:  # the reader kept going through the restart
            await trio.sleep(0)
        stop.set()
    assert failures == []
    assert reads > 0
    assert rt.statistics().registry_restarts == 1
    assert rt.providers.list() == ["four", "one", "three", "two"]
    # the surviving entries are usable: their clients were not closed
    assert (await sa.complete(rt, "one", hello())).text


async def test_models_cached_shared_stale_while_revalidate_and_offline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sa.open_runtime(models_ttl=60.0) as rt:
        async with open_embedded_provider(models=("m-1", "m-2")) as server:
            await rt.providers.register(
                "local",
                sa.ProviderConfig(kind="openai", base_url=server.openai_base_url, api_key="k"),
            )

            def models_requests() -> int:
                return sum(1 for r in server.requests if r.path.endswith("/models"))

            results: list[list[str]] = []

            async def ask() -> None:
                results.append([m.id for m in await rt.providers.models("local")])

            async with trio.open_nursery() as nursery:  # concurrent callers, one request
                for _ in range(5):
                    nursery.start_soon(ask)
            assert results == [["m-1", "m-2"]] * 5
            assert models_requests() == 1

            await trio.sleep(30)  # fresh: served from the cache
            assert [m.id for m in await rt.providers.models("local")] == ["m-1", "m-2"]
            assert models_requests() == 1

            await trio.sleep(31)  # stale: returned at once, one refresh in the background
            assert [m.id for m in await rt.providers.models("local")] == ["m-1", "m-2"]
            with trio.fail_after(10):
                await server.wait_until(lambda s: models_requests() == 2)
        # the server is gone: past the TTL the refresh fails, the last good list stays
        await trio.sleep(120)
        assert [m.id for m in await rt.providers.models("local")] == ["m-1", "m-2"]
        assert [m.id for m in await rt.providers.models("local", refresh=True)] == ["m-1", "m-2"]


async def test_models_with_nothing_cached_raise_the_error(rt: sa.Runtime) -> None:
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    await rt.providers.register(
        "down", sa.ProviderConfig(kind="openai", base_url=f"http://127.0.0.1:{port}/v1")
    )
    with pytest.raises(sa.APIConnectionError):
        await rt.providers.models("down")
    with pytest.raises(sa.ProviderNotFound):
        await rt.providers.models("nobody")


async def test_an_unusable_config_is_refused_without_crashing_the_actor(rt: sa.Runtime) -> None:
    # azure has no default base URL: the registry says so and keeps running
    with pytest.raises(sa.ConfigError, match="base_url"):
        await rt.providers.register("az", sa.ProviderConfig(kind="azure", api_key="k"))
    assert rt.providers.list() == []
    assert rt.statistics().registry_restarts == 0
