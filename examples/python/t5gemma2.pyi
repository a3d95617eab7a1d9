# Type stub of the t5gemma2 extension module (examples/python/t5gemma2_module.cpp), for editors.
import os
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

__version__: str
demo_model: str
"""The bundled demo model's folder (installed copy, else the source tree's)."""

class Error(OSError):
    """A file could not be read or is not what it claims (checkpoint, config.json, tokenizer, image)."""

def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file: floats as float32 (bf16/f16 widened exactly, f64 kept), integers as
    int64, u8/bool as uint8. For goldens and dumps, without PyTorch."""

def available_targets() -> list[str]:
    """SIMD targets this CPU runs, best first, then 'scalar' (the reference). Results are identical on all."""

# generate() returns dicts {"text": str, "tokens": list[int], "score": float | None}.

class Model:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        precision: Literal["f32", "bf16-weights", "hf-bf16"] = "f32",
        target: str | None = None,
        threads: int | None = None,
        synthetic_seed: int | None = None,
        encoder_only: bool = False,
    ) -> None: ...
    @property
    def config(self) -> dict[str, Any]:
        """config.json as read."""
    @property
    def target(self) -> str:
        """The SIMD kernels this model runs on, e.g. 'AVX3_DL' or 'scalar'."""
    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]: ...
    def detokenize(self, ids: list[int], *, skip_special_tokens: bool = False) -> str: ...
    @overload
    def generate(
        self,
        prompt: str,
        *,
        images: list[str] | None = None,
        max_new_tokens: int | None = None,
        num_beams: int | None = None,
        num_return_sequences: int | None = None,
        length_penalty: float | None = None,
        early_stopping: bool | Literal["never"] | None = None,
        no_repeat_ngram_size: int | None = None,
        repetition_penalty: float | None = None,
        min_new_tokens: int | None = None,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> list[dict[str, Any]]: ...
    @overload
    def generate(self, prompt: list[str], **options: Any) -> list[list[dict[str, Any]]]: ...
    @overload
    def embed(
        self,
        prompts: str | list[str],
        *,
        images: list[list[str]] | None = None,
        pooling: Literal["mean", "first", "last"] = "mean",
        normalize: bool = False,
    ) -> npt.NDArray[np.float32]: ...  # [n, H] ([1, H] for one str)
    @overload
    def embed(
        self, prompts: list[str], *, images: list[list[str]] | None = None, pooling: Literal["none"], normalize: bool = False
    ) -> list[npt.NDArray[np.float32]]: ...  # one [tokens, H] per prompt
    @overload
    def embed(
        self, prompts: str, *, images: list[list[str]] | None = None, pooling: Literal["none"], normalize: bool = False
    ) -> npt.NDArray[np.float32]: ...  # [tokens, H]
    def encode(
        self,
        input_ids: npt.ArrayLike,
        attention_mask: npt.ArrayLike | None = None,
        pixel_values: npt.ArrayLike | None = None,
    ) -> npt.NDArray[np.float32]: ...
    def dump(self, inputs: dict[str, npt.ArrayLike], *, max_new_tokens: int = 8) -> dict[str, np.ndarray]: ...
