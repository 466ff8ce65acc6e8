"""A light copy of the embedding model: the same weights exported to ONNX, run with onnxruntime and `tokenizers`.
Importing sentence-transformers costs about 8 s on a 2-core machine; this path starts in well under one, which is
what makes `advisor ask`, a restarted bot and an ingest quick, and it embeds about a fifth faster.

Only models whose sentence-transformers pipeline is a transformer, mean pooling and (optionally) normalisation
take this path; the export is checked against sentence-transformers before it is kept. Anything else keeps
using sentence-transformers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
TOLERANCE = 1e-4


def supports_fast_path(model_dir: Path) -> bool:
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError):
        return False
    return (kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
            and pooling.get("pooling_mode_mean_tokens") and (model_dir / "tokenizer.json").exists())


def cache_path(cache_dir: Path, model_dir: Path) -> Path:
    weights = sorted(p for p in model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    key = hashlib.sha256(str(model_dir.resolve()).encode())
    for p in weights:
        key.update(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}".encode())
    return cache_dir / f"{model_dir.name}-{key.hexdigest()[:12]}.onnx"


def export(st_model, model_dir: Path, target: Path) -> bool:
    """Export a loaded SentenceTransformer's transformer to ONNX and keep it only if it reproduces the model."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    probe = ["What does a backbone organisation do?", "Quel est le rôle de l'organisation de soutien ?"]
    encoded = st_model.tokenizer(probe, padding=True, return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about constant shapes; the check below is what counts
            torch.onnx.export(LastHiddenState(st_model[0].auto_model.eval()), tuple(encoded[k] for k in INPUTS),
                              str(tmp), input_names=list(INPUTS), output_names=["last_hidden_state"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        encoder = OnnxEncoder(tmp, model_dir, st_model.max_seq_length)
        reference = st_model.encode(probe, normalize_embeddings=True)
        if np.abs(encoder.encode(probe) - reference).max() > TOLERANCE:
            raise ValueError("the exported model does not reproduce sentence-transformers")
        os.replace(tmp, target)
        return True
    except Exception as exc:  # the fast path is an optimisation; sentence-transformers still answers
        log.warning("ONNX export of %s skipped: %s", model_dir.name, exc)
        tmp.unlink(missing_ok=True)
        return False


class OnnxEncoder:
    def __init__(self, onnx_path: Path, model_dir: Path, max_tokens: int):
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.enable_padding()

    def encode(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in batch], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in batch], dtype=np.int64),
        }
        hidden = self.session.run(None, feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(hidden.dtype)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
