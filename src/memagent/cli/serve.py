"""`memagent serve`: the agent behind an OpenAI-compatible HTTP API (docs/serve.md)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import fields
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
    DecodingOpt,
    DeviceOpt,
    DtypeOpt,
    EngineOpt,
    MaxRetriesOpt,
    MaxWaitOpt,
    MemoryOpt,
    ModelArgs,
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
)
from memagent.errors import InputError


def _default_data_dir() -> Path:
    root = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(root) / "memagent" / "serve"


def model_args(flags: dict[str, Any]) -> ModelArgs:
    """The shared model flags serve has (ModelArgs' defaults for any it does not offer yet)."""
    names = {f.name for f in fields(ModelArgs)}
    return ModelArgs(**{k: v for k, v in flags.items() if k in names})


def _check_listen(host: str, port: int) -> None:
    """The address can be listened on (checked before the model loads)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(infos[0][4])
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _check_data_dir(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"--data-dir {root} is not a writable directory: "
                         f"{exc.strerror or exc}") from None


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
    engine: EngineOpt = "auto",
    decoding: DecodingOpt = "auto",
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
        raise InputError(f"`memagent serve` needs {exc.name}: pip install 'memagent[serve]'") from None

    root = data_dir or _default_data_dir()
    _check_listen(host, port)
    _check_data_dir(root)
    setup = model_args(locals()).setup()
    from memagent.llm import load_llm

    llm = load_llm(setup.backend)
    llm.resolve_model()  # a server's model: named before it goes into the traces
    agent = setup.agent(llm)
    cap = int(max_upload_mb * 1024 * 1024)  # an upload, or a chat request carrying its document
    settings = ServeSettings(root, server_key, max_queue, cap, max_request_bytes=cap,
                             max_document_tokens=max_document_tokens)
    service = Service(agent, settings)
    resumed = service.resume_unfinished()
    print_line("serve", f"http://{host}:{port}/ ({agent.llm.name}; {setup.describe()}; chunks of "
               f"{agent.budgets.chunk}); data in {settings.data_dir}"
               + (f"; resuming {resumed} unfinished jobs" if resumed else ""))
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=1)
    return 0

