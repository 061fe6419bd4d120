"""FastAPI dependency aliases shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.repository import ModelRepository
from service.settings import Settings


def get_repository(request: Request) -> ModelRepository:
    return request.app.state.repository


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


RepositoryDep = Annotated[ModelRepository, Depends(get_repository)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
