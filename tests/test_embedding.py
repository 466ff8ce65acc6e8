"""The ONNX copy of the bundled model, which embeds chunks and questions, must embed exactly like
sentence-transformers does."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.embedding import Embedder, load_model
from advisor.settings import bundled_model_path


@pytest.mark.parametrize("max_tokens", [None, 128])
def test_onnx_path_reproduces_sentence_transformers(tmp_path, max_tokens):
    embedder = Embedder(bundled_model_path(), batch_size=2, cache_dir=tmp_path, max_tokens=max_tokens)
    texts = ["Who should coordinate all the partners?", "word " * 400,  # longer than the model's limit: truncated
             "Wat doet een backbone-organisatie?"]  # the same way; batches of two: order kept across batches
    fast = embedder.embed(texts)
    assert list(tmp_path.glob("*.onnx")), "the export is cached for the next process"
    model = load_model(bundled_model_path())
    model.max_seq_length = max_tokens or 256
    reference = model.encode(texts, normalize_embeddings=True)
    assert fast.shape == (3, 384)
    assert np.abs(fast - reference).max() < 1e-4


def test_models_other_than_mean_pooling_keep_sentence_transformers(tmp_path):
    from ingest.onnx_export import supports_fast_path

    fake = tmp_path / "cls-model"
    (fake / "1_Pooling").mkdir(parents=True)
    (fake / "modules.json").write_text('[{"type": "sentence_transformers.models.Transformer"},'
                                       ' {"type": "sentence_transformers.models.Pooling"}]')
    (fake / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}')
    (fake / "tokenizer.json").write_text("{}")
    assert not supports_fast_path(fake)
