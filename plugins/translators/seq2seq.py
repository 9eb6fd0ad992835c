"""Sentence-level neural translation through CTranslate2 or transformers.

The shared machinery of the ``marian`` and ``nllb`` plugins: model loading
(Hugging Face id or local folder; CTranslate2 conversion on first use),
device and precision choice, over-long sentences cut to the model's limit,
token-budget batches over length-sorted input, and decoding bounded relative
to the input length with a repetition limit. The translate stage splits text
into sentences, removes repeats and consults the cache before calling here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pivotrec.pipeline.model_store import ModelUnavailableError, ct2_model, missing_package, resolve_source, unavailable
from pivotrec.pipeline.protocols import TranslatedBatch, TranslatorInfo
from pivotrec.pipeline.segment import split_to_fit

Backend = Literal["ctranslate2", "transformers"]
Device = Literal["auto", "cpu", "cuda"]


class Seq2SeqParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The engine: CTranslate2 (converted once, int8 on CPU, faster) or transformers (PyTorch).
    backend: Backend = "ctranslate2"
    #: auto: CUDA when the backend sees a GPU, else the CPU.
    device: Device = "auto"
    #: Precision; default int8 on CPU and float16 on CUDA for CTranslate2,
    #: float32 on CPU and float16 on CUDA for transformers.
    compute_type: str | None = None
    #: Hugging Face revision (branch, tag or commit) of every model used.
    revision: str | None = None
    #: Hypotheses kept per step of decoding: higher is slower and a little better.
    beam_size: int = Field(2, ge=1)
    #: Source tokens (padded) per batch sent to the engine.
    max_batch_tokens: int = Field(4096, ge=16)
    #: Distinct sentences handed over per call; batches are built within it, sorted by length.
    chunk_size: int = Field(2048, ge=1)
    #: Sentences longer than this (in source tokens) are cut further; the count is reported.
    max_input_tokens: int = Field(256, ge=8)
    #: Output length bound per batch: ratio * longest input + offset, at most max_decoding_length.
    max_length_ratio: float = Field(2.0, gt=0)
    max_length_offset: int = Field(10, ge=0)
    #: Output tokens per sentence at the most, whatever the bound above says.
    max_decoding_length: int = Field(512, ge=1)
    #: Forces at least this many output tokens (benchmarks fix output length with it).
    min_decoding_length: int = Field(0, ge=0)
    #: No n-gram of this size repeats in an output (0 = no limit): stops decoding loops.
    no_repeat_ngram_size: int = Field(6, ge=0)
    #: Above 1, tokens already written are less likely again (1: no penalty).
    repetition_penalty: float = Field(1.0, gt=0)
    #: CPU threads per model; 0 lets the engine use every core.
    threads: int = Field(0, ge=0)


#: Options that change how fast translation runs but not what it produces.
_SPEED_ONLY = {"device", "max_batch_tokens", "chunk_size", "threads"}


@dataclass(frozen=True)
class LanguageCodes:
    """How a model is told the languages: NLLB-style tokens, or nothing (Marian)."""

    source: str | None = None
    target: str | None = None


def _cuda_available(backend: Backend) -> bool:
    if backend == "ctranslate2":
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    import torch

    return torch.cuda.is_available()


def resolve_device(params: Seq2SeqParams) -> str:
    """``device: auto`` is CUDA when the backend sees a GPU, else the CPU."""
    if params.device != "auto":
        return params.device
    return "cuda" if _cuda_available(params.backend) else "cpu"


def resolve_compute_type(params: Seq2SeqParams, device: str) -> str:
    """The configured precision, or the default: float16 on CUDA; int8 (CTranslate2) or float32 on the CPU."""
    if params.compute_type:
        return params.compute_type
    if device == "cuda":
        return "float16"
    return "int8" if params.backend == "ctranslate2" else "float32"


class Seq2SeqEngine:
    """One loaded model with its tokenizer, on one backend and device."""

    def __init__(self, model: str, params: Seq2SeqParams) -> None:
        from transformers import AutoTokenizer

        self.model_name = model
        self.params = params
        self.device = resolve_device(params)
        self.compute_type = resolve_compute_type(params, self.device)
        self.source = resolve_source(model, params.revision)
        self.tokenizer = AutoTokenizer.from_pretrained(self.source)
        self._model: Any
        if params.backend == "ctranslate2":
            import ctranslate2

            folder = ct2_model(model, params.revision, quantization=self.compute_type)
            self._model = ctranslate2.Translator(str(folder), device=self.device, compute_type=self.compute_type, intra_threads=params.threads)
        else:
            import torch
            from transformers import AutoModelForSeq2SeqLM

            if params.threads:
                torch.set_num_threads(params.threads)
            dtype = getattr(torch, self.compute_type)
            self._model = AutoModelForSeq2SeqLM.from_pretrained(self.source, dtype=dtype).to(self.device).eval()

    def tokens(self, texts: Sequence[str], codes: LanguageCodes) -> list[list[str]]:
        """Source tokens with the model's special tokens (language code, end of sentence)."""
        if codes.source is not None:
            self.tokenizer.src_lang = codes.source
        ids = self.tokenizer(list(texts), add_special_tokens=True)["input_ids"]
        return [list(self.tokenizer.convert_ids_to_tokens(row)) for row in ids]

    def translate_tokens(self, sources: list[list[str]], codes: LanguageCodes) -> list[list[str]]:
        """Output tokens (without language code or end of sentence), in input order."""
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        outputs: list[list[str]] = [[] for _ in sources]
        for batch in self._token_batches(order, sources):
            longest = max(len(sources[i]) for i in batch)
            limit = min(self.params.max_decoding_length, math.ceil(self.params.max_length_ratio * longest) + self.params.max_length_offset)
            results = self._generate([sources[i] for i in batch], codes, limit)
            for i, tokens in zip(batch, results, strict=True):
                outputs[i] = tokens
        return outputs

    def _token_batches(self, order: list[int], sources: list[list[str]]) -> list[list[int]]:
        # Sorted by length, so padding to the batch's longest costs little.
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            if current and (len(current) + 1) * len(sources[i]) > self.params.max_batch_tokens:
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def _generate(self, sources: list[list[str]], codes: LanguageCodes, limit: int) -> list[list[str]]:
        p = self.params
        prefix = 1 if codes.target is not None else 0
        if p.backend == "ctranslate2":
            results = self._model.translate_batch(
                sources,
                target_prefix=[[codes.target]] * len(sources) if codes.target else None,
                beam_size=p.beam_size,
                max_decoding_length=limit + prefix,
                min_decoding_length=min(p.min_decoding_length, limit) + prefix,
                no_repeat_ngram_size=p.no_repeat_ngram_size,
                repetition_penalty=p.repetition_penalty,
            )
            return [r.hypotheses[0][prefix:] for r in results]
        import torch

        tok = self.tokenizer
        width = max(len(s) for s in sources)
        ids = torch.full((len(sources), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(sources), width), dtype=torch.long)
        for row, tokens in enumerate(sources):
            ids[row, : len(tokens)] = torch.tensor(tok.convert_tokens_to_ids(tokens))
            mask[row, : len(tokens)] = 1
        extra: dict[str, Any] = {}
        if codes.target is not None:
            extra["forced_bos_token_id"] = tok.convert_tokens_to_ids(codes.target)
        with torch.inference_mode():
            generated = self._model.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                num_beams=p.beam_size,
                do_sample=False,
                # CTranslate2 counts neither the end-of-sentence token nor the language prefix.
                max_new_tokens=limit + prefix + 1,
                min_new_tokens=min(p.min_decoding_length, limit) + prefix,
                no_repeat_ngram_size=p.no_repeat_ngram_size,
                repetition_penalty=p.repetition_penalty,
                **extra,
            )
        out = []
        for row in generated.tolist():
            body = row[1 + prefix :]  # drop the decoder start token (and the forced language code)
            if tok.eos_token_id in body:
                body = body[: body.index(tok.eos_token_id)]
            body = body[:limit]  # the same bound as CTranslate2's, which leaves room for the end token
            out.append(list(tok.convert_ids_to_tokens([t for t in body if t != tok.pad_token_id])))
        return out

    def detokenize(self, tokens: list[str]) -> str:
        return str(self.tokenizer.decode(self.tokenizer.convert_tokens_to_ids(tokens), skip_special_tokens=True)).strip()


class Seq2SeqTranslator:
    """Base of sentence-level neural translators; subclasses choose models and language codes."""

    Params = Seq2SeqParams

    def __init__(self, params: Seq2SeqParams) -> None:
        self.params = params
        #: Loaded models by id: one per source language for Marian, so a model
        #: loads when the catalogue first has text in its language.
        self._engines: dict[str, Seq2SeqEngine] = {}

    @property
    def info(self) -> TranslatorInfo:
        # One sentence at a time; chunks as large as its token-budget batching wants.
        return TranslatorInfo(sentence_level=True, batch_size=self.params.chunk_size, method="mt")

    def warm_up(self) -> None:
        """Import the backend and check the device, so a missing engine or GPU fails before any batch.

        Checked here, in the process that translates, not when the plugin is
        built: a Ray driver without a GPU builds plugins for workers that have one.
        """
        try:
            if self.params.backend == "ctranslate2":
                import ctranslate2  # noqa: F401
            else:
                import transformers  # noqa: F401
        except ImportError as exc:
            raise ModelUnavailableError(f"the {self.params.backend} backend is not installed: pip install 'pivotrec[ctranslate2]'") from exc
        if resolve_device(self.params) == "cuda" and not _cuda_available(self.params.backend):
            raise ModelUnavailableError(f"device: cuda, but {self.params.backend} sees no CUDA GPU here; set device: auto (CPU when there is no GPU) or cpu")

    def unavailable_models(self, languages: Sequence[str], tgt: str) -> list[str]:
        """The backend, if not installed, and each model these languages need that is not here
        (a folder that is not there, or offline, a Hugging Face id not in the cache)."""
        by_model: dict[str, list[str]] = {}
        for lang in languages:
            model = self.model_for(lang, tgt)
            if model is not None:
                by_model.setdefault(model, []).append(lang)
        backend = self.params.backend  # its pip package and module have the same name
        problems = missing_package(backend, backend, f"the {backend} backend")
        for model, langs in by_model.items():
            why = unavailable(model, self.params.revision)
            if why:
                problems.append(f"{', '.join(langs)}->{tgt}: {why}")
        return problems

    def cache_settings(self) -> dict[str, Any]:
        settings = self.params.model_dump(mode="json", exclude=_SPEED_ONLY)
        # The precision changes the output, and its default depends on the device:
        # int8 CPU and float16 GPU translations are not mixed in one cache namespace.
        settings["compute_type"] = resolve_compute_type(self.params, resolve_device(self.params))
        return settings

    # Subclasses: which model serves a pair, and the language codes it needs.
    def model_for(self, src: str, tgt: str) -> str | None:
        raise NotImplementedError

    def language_codes(self, src: str, tgt: str) -> LanguageCodes:
        return LanguageCodes()

    def supports(self, src: str, tgt: str) -> bool:
        return self.model_for(src, tgt) is not None

    def engine(self, model: str) -> Seq2SeqEngine:
        if model not in self._engines:
            self._engines[model] = Seq2SeqEngine(model, self.params)
        return self._engines[model]

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        return self.translate_batch(texts, src, tgt).texts

    def translate_batch(self, texts: Sequence[str], src: str, tgt: str) -> TranslatedBatch:
        """Translations, and how many sentences were longer than ``max_input_tokens`` and cut."""
        model = self.model_for(src, tgt)
        if model is None:
            raise ValueError(f"no model for {src}->{tgt}")
        engine = self.engine(model)
        codes = self.language_codes(src, tgt)
        limit = self.params.max_input_tokens

        def fits(text: str) -> bool:
            return len(engine.tokens([text], codes)[0]) <= limit

        sources: list[list[str]] = []
        owners: list[int] = []
        cut = 0
        for index, (text, tokens) in enumerate(zip(texts, engine.tokens(texts, codes), strict=True)):
            if len(tokens) <= limit:
                sources.append(tokens)
                owners.append(index)
                continue
            cut += 1
            pieces = split_to_fit(text, fits)
            sources += engine.tokens(pieces, codes)
            owners += [index] * len(pieces)
        parts: list[list[str]] = [[] for _ in texts]
        for owner, tokens in zip(owners, engine.translate_tokens(sources, codes), strict=True):
            parts[owner].append(engine.detokenize(tokens))
        return TranslatedBatch([" ".join(p for p in pieces if p) for pieces in parts], cut_sentences=cut)
