"""FastAPI dependency aliases shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.repository import ModelRepository
from service.settings import Settings
from service.shutdown import Drain


def get_repository(request: Request) -> ModelRepository:
    return request.app.state.repository


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_drain(request: Request) -> Drain:
    return request.app.state.drain


RepositoryDep = Annotated[ModelRepository, Depends(get_repository)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DrainDep = Annotated[Drain, Depends(get_drain)]
