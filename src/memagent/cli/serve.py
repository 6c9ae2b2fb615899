"""`memagent serve`: the agent behind an OpenAI-compatible HTTP API (docs/serve.md)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from memagent.cli import print_line
from memagent.cli.options import (
    AdapterOpt,
    ApiKeyOpt,
    BackendOpt,
    BaseOpt,
    BaseUrlOpt,
    ChunkOpt,
    ConcurrencyOpt,
    DeviceOpt,
    DtypeOpt,
    MaxRetriesOpt,
    MaxWaitOpt,
    MemoryOpt,
    ModelOpt,
    OutputOpt,
    ProfileOpt,
    PromptsOpt,
    QueryOpt,
    SeedOpt,
    TemperatureOpt,
    TimeoutOpt,
    TokenizerOpt,
    TopPOpt,
    WindowOpt,
    agent_config,
    pick_dtype,
    pick_profile,
)
from memagent.errors import InputError


def _default_data_dir() -> Path:
    root = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(root) / "memagent" / "serve"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command(
    host: Annotated[str, typer.Option(help="Address to bind. Anything but loopback needs --server-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    server_key: Annotated[
        str | None,
        typer.Option("--server-key", envvar="MEMAGENT_SERVER_KEY", show_envvar=True,
                     help="The key clients must send (Authorization: Bearer KEY) to /v1/*. "
                     "(--api-key is the backend's key, as in `ask`.)"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Documents, jobs (SQLite) and traces. Default: "
                     "$XDG_DATA_HOME/memagent/serve (~/.local/share/memagent/serve)."),
    ] = None,
    max_queue: Annotated[int, typer.Option(help="Tasks waiting or running at once; more get 429.")] = 64,
    max_upload_mb: Annotated[float, typer.Option(help="Upload cap of one document, in MiB.")] = 64.0,
    max_document_tokens: Annotated[int, typer.Option(help="Token cap of one document.")] = 4_000_000,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    tokenizer: TokenizerOpt = None,
    backend: BackendOpt = "auto",
    device: DeviceOpt = None,
    adapter: AdapterOpt = None,
    base: BaseOpt = False,
    dtype: DtypeOpt = None,
    profile: ProfileOpt = "auto",
    window: WindowOpt = None,
    query: QueryOpt = None,
    chunk: ChunkOpt = None,
    memory: MemoryOpt = None,
    output: OutputOpt = None,
    temperature: TemperatureOpt = None,
    top_p: TopPOpt = None,
    seed: SeedOpt = None,
    prompts: PromptsOpt = None,
    concurrency: ConcurrencyOpt = 8,
    max_retries: MaxRetriesOpt = 5,
    timeout: TimeoutOpt = 300.0,
    max_wait: MaxWaitOpt = 600.0,
) -> int:
    """Serve the agent over HTTP: OpenAI chat completions, document jobs, and a page at /."""
    if not is_loopback(host) and not server_key:
        raise InputError(f"refusing to bind {host} without a key: pass --server-key "
                         "(or $MEMAGENT_SERVER_KEY), or bind 127.0.0.1")
    if not 1 <= port <= 65535:
        raise InputError(f"--port {port} is not a port (1-65535)")
    if max_queue < 1 or max_upload_mb <= 0 or max_document_tokens < 1:
        raise InputError("--max-queue, --max-upload-mb and --max-document-tokens must be positive")
    try:
        import uvicorn

        from memagent.serve.app import create_app
        from memagent.serve.service import ServeSettings, Service
    except ModuleNotFoundError as exc:
        raise InputError(f"`memagent serve` needs {exc.name}: pip install fastapi uvicorn") from None

    backend_args = dict(model=model, base_url=base_url, api_key=api_key, tokenizer=tokenizer,
                        backend=backend, device=device, adapter=adapter, base=base, dtype=dtype,
                        concurrency=concurrency, max_retries=max_retries, timeout=timeout,
                        max_wait=max_wait)
    agent = build_agent(profile, (window, query, chunk, memory, output),
                        (temperature, top_p, seed, prompts), backend_args)
    settings = ServeSettings(data_dir or _default_data_dir(), server_key, max_queue,
                             int(max_upload_mb * 1024 * 1024),
                             max_document_tokens=max_document_tokens)
    service = Service(agent, settings)
    resumed = service.resume_unfinished()
    print_line("serve", f"http://{host}:{port}/ ({agent.llm.name}, window {agent.budgets.window}, "
               f"chunks of {agent.budgets.chunk}); data in {settings.data_dir}"
               + (f"; resuming {resumed} unfinished jobs" if resumed else ""))
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=1)
    return 0


def build_agent(profile: str, budgets: tuple[Any, ...], sampling: tuple[Any, ...],
                b: dict[str, Any]) -> Any:
    """The agent the shared option groups describe, built the way `ask` builds its own."""
    from memagent.llm import BackendOptions, load_llm
    from memagent.loop.agent import MemAgent

    prof = pick_profile(profile, b["model"], b["adapter"], b["base"],
                        server=b["base_url"] is not None)
    config = agent_config(prof, prof.budgets(*budgets), *sampling)
    options = BackendOptions(
        model=b["model"], base_url=b["base_url"], api_key=b["api_key"], tokenizer=b["tokenizer"],
        adapter=b["adapter"], base=b["base"], dtype=pick_dtype(b["dtype"], prof, b["device"]),
        backend=b["backend"], device=b["device"], max_concurrency=b["concurrency"],
        max_retries=b["max_retries"], timeout=b["timeout"], max_wait=b["max_wait"] or None,
        on_retry=lambda notice: print_line("warning", notice),
    )
    llm = load_llm(options)
    llm.resolve_model()
    return MemAgent(llm, config)
