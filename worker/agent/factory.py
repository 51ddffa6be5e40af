"""Choosing the model from settings: an OpenAI-compatible LLM when one is configured, else the
offline planner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pyexec.core.settings import Settings, SettingsError
from pyexec.worker.agent.model import Model
from pyexec.worker.agent.openai_provider import OpenAIModel, make_client
from pyexec.worker.agent.planner import OfflinePlanner

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


def llm_model_name(settings: Settings) -> str:
    """The model to ask; OpenAI's own API has a sensible default, other servers do not."""
    if settings.llm_model:
        return settings.llm_model
    if settings.openai_base_url:
        raise SettingsError(
            "PYEXEC_LLM_MODEL: required when OPENAI_BASE_URL is set (the model name your "
            "server serves, e.g. 'llama3.1' for Ollama)"
        )
    return DEFAULT_OPENAI_MODEL


@asynccontextmanager
async def open_model(settings: Settings) -> AsyncIterator[Model]:
    """The model jobs are answered by, for as long as the worker runs. A configuration error
    raises `SettingsError` here, at start-up, rather than in the first job."""
    if not settings.llm_configured:
        yield OfflinePlanner()
        return
    client = make_client(settings)
    try:
        yield OpenAIModel(client, llm_model_name(settings), settings)
    finally:
        await client.close()
