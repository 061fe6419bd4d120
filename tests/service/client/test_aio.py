"""`AsyncClient` against the real server: the same answers as `Client`, concurrently, and the stream as it comes."""

from __future__ import annotations

import asyncio

import pytest
from tests_support import png

from service.client import AsyncClient, Client, DlserveError

pytestmark = pytest.mark.integration


def test_the_same_answers_as_the_blocking_client(server, mnist_test):
    digits = [png(d) for d in mnist_test[0][:4]]

    async def main():
        async with AsyncClient(server.url) as dl:
            classified, translated, whole = await asyncio.gather(
                dl.classify(digits, top_k=3), dl.translate(["A dog runs."], target="fr"),
                dl.generate("JULIET:", max_tokens=60, seed=3),
            )  # fmt: skip
            stream = dl.generate("JULIET:", stream=True, max_tokens=60, seed=3)
            pieces = [text async for text in stream]
            return classified, translated, whole, pieces, stream.finish

    classified, translated, whole, pieces, finish = asyncio.run(main())
    with Client(server.url) as blocking:
        assert classified == blocking.classify(digits, top_k=3)
        assert translated == blocking.translate(["A dog runs."], target="fr")
        assert whole == blocking.generate("JULIET:", max_tokens=60, seed=3)
    assert "".join(pieces) == whole.text and finish.tokens == 60 and finish.finish_reason == "length"


def test_errors_and_keys(keyed, api_key, mnist_test):
    digit = png(mnist_test[0][0])

    async def main():
        async with AsyncClient(keyed.url) as anonymous:
            with pytest.raises(DlserveError) as err:
                await anonymous.classify(digit)
        async with AsyncClient(keyed.url, api_key=api_key) as dl:
            with pytest.raises(DlserveError) as missing:
                _ = [t async for t in dl.generate("ROMEO:", stream=True)]  # this server has no generator
            return err.value, missing.value, await dl.classify(digit)

    unauthorized, missing, result = asyncio.run(main())
    assert (unauthorized.status, unauthorized.error) == (401, "unauthorized")
    assert missing.status == 404 and "no generate model" in missing.detail
    assert result.results[0].predictions[0].index == mnist_test[1][0]
