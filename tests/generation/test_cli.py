"""`refimpl generate` (refimpl.generation.cli): a tiny GPT-2 + byte-level BPE tokenizer saved by transformers,
generated from by the command's run function and compared with transformers' generate() and decode()."""
import argparse
import io
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("refimpl.models.gpt2")
pytest.importorskip("refimpl.tokenizers.bpe")

from refimpl.generation.cli import add_generate_parser  # noqa: E402

from .adapters import hf_generate, tiny_gpt2  # noqa: E402

CORPUS = ["the cat sat on the mat", "a dog ran in the park", "generation with beams and samples",
          "reference implementations check frameworks", "hello world, hello numbers 12345"] * 4


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2TokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + 1 + 40, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    hf_tok = GPT2TokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                               unk_token="<|endoftext|>")
    eot = tok.token_to_id("<|endoftext|>")
    hf = tiny_gpt2(4, vocab=tok.get_vocab_size(), bos_token_id=eot, eos_token_id=eot, pad_token_id=eot)
    directory = tmp_path_factory.mktemp("ckpt")
    hf.save_pretrained(directory)
    hf_tok.save_pretrained(directory)
    return directory, hf, hf_tok


def _run(argv):
    parser = argparse.ArgumentParser(prog="refimpl")
    add_generate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["generate"] + argv)
    out = io.StringIO()
    code = args.func(args, out=out)
    return code, out.getvalue()


def _lines(text, key):
    return [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith(key + "[")]


@pytest.mark.parametrize("strategy, extra, hf_kw", [
    ("greedy", [], dict()),
    ("beam", ["--num-beams", "3", "--num-return-sequences", "2"], dict(num_beams=3, num_return_sequences=2)),
])
def test_generate_from_prompt_ids_matches_transformers(checkpoint, strategy, extra, hf_kw):
    directory, hf, hf_tok = checkpoint
    code, text = _run(["--model", str(directory), "--prompt-ids", "5,6,7", "--prompt-ids", "9,10,11,12",
                       "--strategy", strategy, "--max-new-tokens", "6"] + extra)
    assert code == 0
    pad = hf.config.pad_token_id
    ids = np.array([[pad, 5, 6, 7], [9, 10, 11, 12]])
    ref = hf_generate(hf, ids, (ids != pad).astype(np.int64), max_new_tokens=6, **hf_kw).numpy()
    expected = [row[1:] if i // hf_kw.get("num_return_sequences", 1) == 0 else row for i, row in enumerate(ref)]
    assert _lines(text, "ids") == [" ".join(str(t) for t in row) for row in expected]
    assert [json.loads(t) for t in _lines(text, "text")] == [hf_tok.decode(row.tolist()) for row in expected]
    assert len(_lines(text, "score")) == (len(expected) if strategy == "beam" else 0)


def test_generate_from_text_prompt_and_sampling_is_seeded(checkpoint):
    directory, hf, hf_tok = checkpoint
    argv = ["--model", str(directory), "--prompt", "the cat", "--strategy", "sample", "--top-k", "10",
            "--max-new-tokens", "5", "--seed", "3"]
    code, first = _run(argv)
    _, second = _run(argv)
    assert code == 0 and first == second
    ids = [int(t) for t in _lines(first, "ids")[0].split()]
    assert ids[:len(hf_tok.encode("the cat"))] == hf_tok.encode("the cat")
    assert len(ids) == len(hf_tok.encode("the cat")) + 5
    assert json.loads(_lines(first, "text")[0]) == hf_tok.decode(ids)


def test_generate_reports_bad_input(checkpoint, tmp_path, capsys):
    directory, _, _ = checkpoint
    assert _run(["--model", str(directory), "--prompt-ids", "1,x"])[0] == 2
    assert "--prompt-ids" in capsys.readouterr().err
    assert _run(["--model", str(tmp_path), "--prompt-ids", "1"])[0] == 2
    assert "config.json" in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert _run(["--model", str(tmp_path), "--prompt-ids", "1"])[0] == 2
    assert "model_type 'bert'" in capsys.readouterr().err
    assert _run(["--model", str(directory), "--prompt-ids", "1,2", "--strategy", "beam", "--num-beams", "2",
                 "--num-return-sequences", "3"])[0] == 2
    assert "num_return_sequences" in capsys.readouterr().err
