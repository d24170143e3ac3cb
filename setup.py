"""refimpl: NumPy reference implementation (forward + hand-written backward) of the models in
"How Transformers solve tasks", with Numba/CuPy kernels for the hot paths."""
from setuptools import find_packages, setup

# torch is pinned to the CPU wheel this project is tested with: an open range would let pip pull a
# multi-GB CUDA build on a machine without it.
TORCH = "torch==2.13.0"
DIFF = [TORCH, "transformers>=5.0,<6", "safetensors>=0.4", "tokenizers>=0.20", "pillow>=10", "onnx>=1.16",
        "onnxruntime>=1.18"]
BENCH = ["matplotlib>=3.7", "tqdm>=4.60"]

setup(
    name="refimpl",
    version="0.1.0",
    description="NumPy reference implementation (forward + hand-written backward) of transformer models, "
                "a verification oracle with Numba/CuPy kernels for the hot paths",
    python_requires=">=3.10",
    packages=find_packages(include=["refimpl", "refimpl.*", "kernels", "kernels.*"]),
    package_data={"kernels": ["cuda/*.cu"]},
    install_requires=["numpy>=1.24", "scipy>=1.10", "numba>=0.59", "threadpoolctl>=3.1"],
    extras_require={
        "cuda": ["cupy-cuda12x>=13"],
        "diff": DIFF,
        "test": ["pytest>=7", "hypothesis>=6.80"] + DIFF + BENCH,
        "bench": BENCH,
    },
    entry_points={"console_scripts": ["refimpl = refimpl.cli:main"]},
)
