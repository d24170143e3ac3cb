"""Self-checks for refimpl.generation: the logits-processor chain generate() builds (greedy and sampling
settings) against transformers' own chain on random scores, and greedy / beam search with refimpl's GPT-2
against transformers' generate() (token ids exact; beam scores at float32 tolerance, since transformers
casts logits to float32). Skipped without torch / transformers."""
import numpy as np

from ..assert_close import compare
from ..parity import ParityReport
from ..selfcheck import register_check

_SETTINGS = {
    "generation processors": dict(repetition_penalty=1.3, no_repeat_ngram_size=2, bad_words_ids=[[4], [5, 6]],
                                  min_new_tokens=2, forced_eos_token_id=2, suppress_tokens=[7], eos_token_id=2,
                                  max_length=9),
    "generation warpers": dict(do_sample=True, temperature=0.7, top_k=6, top_p=0.8, eos_token_id=2, max_length=9),
}


def _chain_report(settings, dtype):
    import torch
    import transformers

    from ...generation import GenerationConfig, build_logits_processor
    hf_model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=20, n_embd=8, n_layer=1, n_head=2,
                                                                    n_positions=16, bos_token_id=1, eos_token_id=2))
    hf_cfg, _ = hf_model._prepare_generation_config(transformers.GenerationConfig(**settings))
    hf_model._prepare_special_tokens(hf_cfg, True, device="cpu")
    hf_chain = hf_model._get_logits_processor(hf_cfg, input_ids_seq_length=3, device="cpu",
                                              logits_processor=transformers.LogitsProcessorList(), model_kwargs={})
    chain = build_logits_processor(GenerationConfig(**settings).fill_defaults(), 3, eos_token_id=[2])
    rng = np.random.default_rng(0)
    report = ParityReport()
    for length in (3, 4, 8):
        ids = rng.integers(0, 20, (3, length))
        scores = (rng.standard_normal((3, 20)) * 3).astype(dtype)
        ref = hf_chain(torch.from_numpy(ids), torch.from_numpy(scores.copy())).numpy()
        report.append(compare(chain(ids, scores), ref, dtype=dtype, name=f"processed scores (length {length})"))
    return report


for _name, _settings in _SETTINGS.items():
    for _dt, _kind in ((np.float64, "torch f64"), (np.float32, "torch f32")):
        register_check(_name, _kind, needs_torch=True)(
            lambda s=_settings, d=_dt: _chain_report(s, d))


@register_check("generation search (GPT-2)", "torch f64", needs_torch=True)
def _search():
    import torch
    import transformers

    from ...generation import generate
    from ...models.gpt2 import GPT2Config, GPT2LMHeadModel
    cfg = dict(vocab_size=30, n_embd=16, n_layer=2, n_head=2, n_positions=24, bos_token_id=1, eos_token_id=3,
               pad_token_id=0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**cfg)).double().eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in hf.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            p.copy_(1.0 + 0.1 * r if ".ln_" in name and name.endswith("weight") else
                    (2.0 if "wpe" in name else 0.3) * r)
    ref = GPT2LMHeadModel(GPT2Config(**cfg), np.float64).eval()
    ref.load_state_dict({k: v.numpy() for k, v in hf.state_dict().items()})
    ids = np.array([[5, 6, 7, 8], [0, 0, 9, 4]])
    mask = (ids != 0).astype(np.int64)
    report = ParityReport()
    for kw in (dict(), dict(num_beams=3, num_return_sequences=2, length_penalty=2.0)):
        kw = dict(max_new_tokens=8, return_dict_in_generate=True, output_scores=True, **kw)
        out = generate(ref, ids, mask, **kw)
        with torch.no_grad():
            t_out = hf.generate(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), **kw)
        what = "beam" if "num_beams" in kw else "greedy"
        report.append(compare(out.sequences.astype(np.float64), t_out.sequences.numpy().astype(np.float64),
                              rtol=0.0, atol=0.0, name=f"{what} token ids"))
        if what == "beam":  # transformers' scores are float32
            report.append(compare(out.sequences_scores, t_out.sequences_scores.numpy(), dtype=np.float32,
                                  name="beam sequences_scores (float32 tolerance)"))
    return report
