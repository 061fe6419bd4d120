"""FastAPI dependency aliases shared by the routers.

The getters are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread pool, which cost
every request two thread hand-offs just to read `app.state`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.repository import ModelRepository
from service.settings import Settings
from service.shutdown import Drain


async def get_repository(request: Request) -> ModelRepository:
    return request.app.state.repository


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_drain(request: Request) -> Drain:
    return request.app.state.drain


RepositoryDep = Annotated[ModelRepository, Depends(get_repository)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DrainDep = Annotated[Drain, Depends(get_drain)]
