"""CUDA (CuPy) kernels for the four hot paths: attention, depthwise_conv, ctc, matching.

Each `kernels.cuda.<op>` module has the reference's function names and signatures, a `<op>.cu` source
beside it (compiled by NVRTC through cupy.RawModule, cached), and imports without CuPy: calling it
without CuPy or a GPU raises ConfigError naming the "cuda" backend (after the argument checks).
Selected with refimpl.use_kernels("cuda").
"""
