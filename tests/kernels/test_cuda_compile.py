"""Every kernels/cuda/*.cu compiles with nvcc (when nvcc is on PATH), in the configurations the Python
side asks NVRTC for: float and double, several head sizes and tile sizes for attention.

No GPU is needed: device code only (nvcc -cubin, front end and ptxas, warnings as errors) for sm_90
in every configuration and for sm_75 in each file's default one, so CI catches errors in CUDA code it
cannot run.
"""
import shutil
import subprocess
from pathlib import Path

import pytest

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")

CUDA_DIR = Path(__file__).resolve().parents[2] / "kernels" / "cuda"

CONFIGS = {
    "attention": [
        [],                                                       # the file's defaults: float, D = Dv = 64, 64-row tiles
        ["-DSCALAR=double", "-DHD=40", "-DHDV=5", "-DBQ=32", "-DBK=32"],
        ["-DSCALAR=float", "-DHD=1", "-DHDV=1", "-DBQ=16", "-DBK=16"],
    ],
    "depthwise_conv": [["-DSCALAR=float"], ["-DSCALAR=double"]],
    "matching": [[]],
    "ctc": [["-DSCALAR=float"], ["-DSCALAR=double"]],
}


def test_every_cu_file_has_a_compile_config():
    assert sorted(p.stem for p in CUDA_DIR.glob("*.cu")) == sorted(CONFIGS)


CASES = [(n, d, "sm_90") for n, ds in CONFIGS.items() for d in ds] + [(n, ds[0], "sm_75") for n, ds in CONFIGS.items()]


@pytest.mark.parametrize("name,defines,arch", CASES, ids=[f"{n}-{a}-{' '.join(d)}" for n, d, a in CASES])
def test_cu_compiles(name, defines, arch, tmp_path):
    src = CUDA_DIR / f"{name}.cu"
    cmd = [NVCC, f"-arch={arch}", "-std=c++14", "--Werror", "all-warnings", *defines, "-cubin", str(src),
           "-o", str(tmp_path / f"{name}.cubin")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
