"""A Python client for dlserve's typed API (/v1): classify, caption, translate, generate (whole or streamed).

    from service.client import Client

    with Client("http://127.0.0.1:8000", api_key=None) as dl:
        dl.classify(["digit.png"]).results[0].predictions[0].label
        dl.translate(["A dog runs."], target="de").translations[0].text
        for text in dl.generate("ROMEO:", stream=True, max_tokens=100, seed=7):
            print(text, end="", flush=True)

`AsyncClient` has the same methods for asyncio (`await dl.classify(...)`, `async for text in
dl.generate(prompt, stream=True)`). Results are the server's own response schemas (pydantic);
an error answer raises `DlserveError` with the server's status, error code and detail. It imports httpx,
pydantic and the standard library only (no FastAPI, no onnxruntime), so it is cheap to import anywhere.
"""

from service.client.aio import AsyncClient, AsyncTextStream
from service.client.base import DlserveError, Finish, StreamError
from service.client.sync import Client, TextStream

__all__ = ["AsyncClient", "AsyncTextStream", "Client", "DlserveError", "Finish", "StreamError", "TextStream"]
