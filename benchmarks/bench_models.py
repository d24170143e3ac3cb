"""Benchmark every model family: forward and forward+backward, reference vs numba vs cuda vs transformers.

    python benchmarks/bench_models.py [--quick] [--only bert,gpt2,vit,convnext,wav2vec2] [--out DIR]

Sizes are the real models' (BERT-base, GPT-2 small, ViT-B/16, ConvNeXT-T, wav2vec2-base); --quick keeps
their widths and cuts layers and input length (the output says how). Same machinery and outputs as
`refimpl bench --only models` (refimpl/bench/).
"""
import sys

from refimpl.bench.cli import main_for

if __name__ == "__main__":
    sys.exit(main_for("models", description=__doc__))
