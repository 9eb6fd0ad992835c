"""Tiny MarianMT and NLLB (M2M100) models built from scratch, for tests and benchmarks.

Random weights and a SentencePiece vocabulary trained here on a small
synthetic corpus: real architectures and real tokenizers, saved with
``save_pretrained`` exactly as Hugging Face models are, so the loading,
conversion and decoding code runs unchanged. Nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

WORDS = (
    "el gato come pescado la casa es grande perro corre rápido hoy mañana libro rojo azul verde niño niña "
    "escuela agua fuego ciudad tren viaje noche día sol luna mar montaña río árbol flor música"
).split()


def corpus(n: int = 600, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(3, 14))).capitalize() + "." for _ in range(n)]


def train_sentencepiece(vocab_size: int, model_type: str = "unigram", sentences: list[str] | None = None) -> bytes:
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences or corpus()),
        model_writer=buffer,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=1.0,
        minloglevel=2,
    )
    return buffer.getvalue()


def build_marian(
    folder: Path,
    seed: int = 0,
    d_model: int = 32,
    layers: int = 2,
    heads: int = 4,
    ffn: int = 64,
    vocab_size: int | None = None,
    spm_vocab: int = 120,
    init_std: float = 0.3,
    training_text: list[str] | None = None,
) -> Path:
    """A MarianMT model in ``folder``.

    ``vocab_size`` pads the vocabulary with unused pieces (opus-mt has ~58k);
    a large ``init_std`` makes random outputs vary instead of repeating one token;
    ``training_text`` trains the vocabulary on other text than the built-in corpus.
    """
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    model_bytes = train_sentencepiece(spm_vocab, sentences=training_text)
    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(model_bytes)
    processor = spm.SentencePieceProcessor(model_proto=model_bytes)
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    # Marian's layout: </s> 0, <unk> 1, the pieces, <pad> last.
    vocab = {"</s>": 0, "<unk>": 1}
    for piece in pieces:
        if piece not in ("<s>", "</s>", "<unk>"):
            vocab.setdefault(piece, len(vocab))
    while vocab_size and len(vocab) < vocab_size - 1:
        vocab[f"▁unused{len(vocab)}"] = len(vocab)
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json"))
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab),
        **_shape(d_model, layers, heads, ffn),
        pad_token_id=pad,
        eos_token_id=0,
        decoder_start_token_id=pad,
        forced_eos_token_id=0,
        activation_function="swish",
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        init_std=init_std,
    )
    torch.manual_seed(seed)
    model = MarianMTModel(config).eval()
    with torch.no_grad():
        # CTranslate2 starts decoding from a zero embedding for the pad row; keep it zero.
        model.get_input_embeddings().weight[pad].zero_()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _shape(d_model: int, layers: int, heads: int, ffn: int) -> dict[str, int]:
    """Transformer size settings shared by the Marian and M2M100 configs (same names in both)."""
    return {
        "d_model": d_model, "encoder_layers": layers, "decoder_layers": layers, "encoder_attention_heads": heads,
        "decoder_attention_heads": heads, "encoder_ffn_dim": ffn, "decoder_ffn_dim": ffn, "max_position_embeddings": 512,
    }


def build_nllb(
    folder: Path, seed: int = 0, d_model: int = 32, layers: int = 2, heads: int = 4, ffn: int = 64, init_std: float = 0.3
) -> Path:
    """An NLLB-200-style model (M2M100 architecture, NLLB tokenizer with FLORES-200 codes) in ``folder``."""
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    folder.mkdir(parents=True, exist_ok=True)
    spm_folder = folder / "spm"
    spm_folder.mkdir(exist_ok=True)
    (spm_folder / "sentencepiece.bpe.model").write_bytes(train_sentencepiece(100, "bpe"))
    tokenizer = NllbTokenizer.from_pretrained(str(spm_folder), extra_special_tokens=FAIRSEQ_LANGUAGE_CODES)
    config = M2M100Config(
        vocab_size=len(tokenizer),
        **_shape(d_model, layers, heads, ffn),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        scale_embedding=True,
        activation_function="relu",
        init_std=init_std,
    )
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
