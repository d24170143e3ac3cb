"""Test helpers: Hugging Face torch models behind refimpl's numpy generation interface, and a float64 HF generate.

- HFCausalLMAdapter(hf_gpt2): model(input_ids=, attention_mask=, position_ids=, past_key_values=, use_cache=)
  with numpy in / out; the cache travels as a tuple over layers of (k, v) numpy arrays and is
  rebuilt into a DynamicCache each call, so refimpl's beam search reorders plain arrays.
- HFSeq2SeqAdapter(hf_bart_or_t5): get_encoder()(input_ids=, attention_mask=) and
  model(decoder_input_ids=, encoder_outputs=, attention_mask=, past_key_values=, use_cache=), cache as
  per-layer (self_k, self_v, cross_k, cross_v) tuples <-> EncoderDecoderCache.
- hf_float64_generate(...): transformers' generate with its float32 casts of the logits and beam
  scores turned into float64 (transformers.generation.utils sees a torch whose float32 is
  float64), and optionally torch.multinomial replaced by refimpl's sampler on a numpy Generator so
  sampled paths can be compared draw for draw.
- tiny_gpt2 / tiny_bart / tiny_t5: random float64 models with special ids inside the vocabulary.
"""
from __future__ import annotations

import contextlib
import types

import numpy as np
import torch
import transformers.generation.utils as hf_gen_utils
from transformers import (BartConfig, BartForConditionalGeneration, DynamicCache, EncoderDecoderCache, GPT2Config,
                          GPT2LMHeadModel, T5Config, T5ForConditionalGeneration)
from transformers.modeling_outputs import BaseModelOutput as HFBaseModelOutput

from refimpl.generation.sampling import multinomial
from refimpl.models.outputs import BaseModelOutput


def _t(x):
    return None if x is None else torch.from_numpy(np.ascontiguousarray(x))


def _n(x):
    return x.detach().cpu().numpy()


class _Out(types.SimpleNamespace):
    pass


class HFCausalLMAdapter:
    """A transformers causal LM (GPT-2) with refimpl's decoder-only generation interface."""

    def __init__(self, hf_model):
        self.hf = hf_model.eval()
        self.config = hf_model.config
        self.max_positions = hf_model.config.n_positions
        self.calls = []                                   # (input_ids shape, past length) per call

    def __call__(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, use_cache=True):
        past_len = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        self.calls.append((input_ids.shape, past_len))
        cache = None
        if past_key_values is not None:
            cache = DynamicCache(ddp_cache_data=[(_t(k), _t(v)) for k, v in past_key_values])
        if attention_mask is not None and (attention_mask == 1).all():
            attention_mask = None                         # transformers drops an all-ones mask as well
        with torch.no_grad():
            out = self.hf(input_ids=_t(input_ids), attention_mask=_t(attention_mask), position_ids=_t(position_ids),
                          cache=cache, use_cache=use_cache)
        past = tuple((_n(k), _n(v)) for k, v, _ in out.cache) if use_cache else None
        return _Out(logits=_n(out.logits), past_key_values=past)


class HFSeq2SeqAdapter:
    """A transformers encoder-decoder LM (BART, T5) with refimpl's encoder-decoder generation interface."""

    def __init__(self, hf_model):
        self.hf = hf_model.eval()
        self.config = hf_model.config
        self.calls = []

    def get_encoder(self):
        def encoder(input_ids, attention_mask=None):
            with torch.no_grad():
                out = self.hf.get_encoder()(input_ids=_t(input_ids), attention_mask=_t(attention_mask))
            return BaseModelOutput(last_hidden_state=_n(out.last_hidden_state))
        return encoder

    def __call__(self, decoder_input_ids, encoder_outputs, attention_mask=None, past_key_values=None,
                 use_cache=True):
        past_len = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        self.calls.append((decoder_input_ids.shape, past_len))
        cache = None
        if past_key_values is not None:
            cache = EncoderDecoderCache([tuple(_t(a) for a in layer) for layer in past_key_values])
        enc = HFBaseModelOutput(last_hidden_state=_t(encoder_outputs.last_hidden_state))
        with torch.no_grad():
            out = self.hf(decoder_input_ids=_t(decoder_input_ids), encoder_outputs=enc,
                          attention_mask=_t(attention_mask), cache=cache, use_cache=use_cache)
        past = None
        if use_cache:
            past = tuple((_n(lay[0]), _n(lay[1]), _n(lay[3]), _n(lay[4])) for lay in out.cache)
        return _Out(logits=_n(out.logits), past_key_values=past)


class _TorchProxy(types.ModuleType):
    """`torch` as transformers.generation.utils sees it: float32 may mean float64; multinomial may be ours."""

    def __init__(self, float64: bool, multinomial_fn=None):
        super().__init__("torch")
        self._float64 = float64
        self._multinomial = multinomial_fn

    def __getattr__(self, name):
        if self._float64 and name in ("float32", "float"):
            return torch.float64
        if name == "multinomial" and self._multinomial is not None:
            return self._multinomial
        return getattr(torch, name)


@contextlib.contextmanager
def hf_generation_patched(float64: bool = True, rng: np.random.Generator = None):
    """Inside: transformers' generate computes scores in float64 (and samples with refimpl's sampler on rng)."""
    def sampler(probs, num_samples=1, replacement=False, **_):
        return torch.from_numpy(multinomial(_n(probs), rng, num_samples, replacement))

    original = hf_gen_utils.torch
    hf_gen_utils.torch = _TorchProxy(float64, sampler if rng is not None else None)
    try:
        yield
    finally:
        hf_gen_utils.torch = original


def hf_generate(hf_model, input_ids, attention_mask=None, *, float64=True, rng=None, **kwargs):
    """transformers generate() on numpy inputs (see hf_generation_patched); returns the raw output."""
    with hf_generation_patched(float64=float64, rng=rng), torch.no_grad():
        return hf_model.generate(input_ids=_t(input_ids), attention_mask=_t(attention_mask), **kwargs)


def randomize(hf_model, seed: int, std: float):
    g = torch.Generator().manual_seed(seed)
    hf_model.double()
    with torch.no_grad():
        for name, p in hf_model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if "ln" in name.split(".")[-2] or "norm" in name.lower():
                p.copy_(1.0 + 0.1 * r if name.endswith("weight") else 0.1 * r)
            else:
                p.copy_(std * r)
    return hf_model.eval()


def tiny_gpt2(seed: int = 0, std: float = 0.3, pos_std: float = 3.0, vocab: int = 40, n_positions: int = 32,
              **overrides):
    """Random GPT-2; large position embeddings keep a 2-layer model from repeating one token forever."""
    settings = dict(vocab_size=vocab, n_positions=n_positions, n_embd=16, n_layer=2, n_head=2, bos_token_id=1,
                    eos_token_id=2, pad_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    cfg = GPT2Config(**{**settings, **overrides})
    model = randomize(GPT2LMHeadModel(cfg), seed, std)
    with torch.no_grad():
        model.transformer.wpe.weight.mul_(pos_std / std)
    return model


def tiny_bart(seed: int = 0, std: float = 0.3, vocab: int = 40, **overrides):
    cfg = BartConfig(vocab_size=vocab, d_model=16, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=32,
                     dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, **overrides)
    return randomize(BartForConditionalGeneration(cfg), seed, std)


def tiny_t5(seed: int = 0, std: float = 0.3, vocab: int = 40, **overrides):
    cfg = T5Config(vocab_size=vocab, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=2,
                   dropout_rate=0.0, decoder_start_token_id=0, **overrides)
    return randomize(T5ForConditionalGeneration(cfg), seed, std)
