"""refimpl's fast kernels for the four hot paths (attention, depthwise conv, CTC, matching).

NOTE: this top-level import name is shared with the Hugging Face `kernels` hub client. transformers
checks `importlib.metadata.version("kernels")` before using it; our distribution is called `refimpl`,
so no `kernels` distribution metadata exists and transformers keeps `is_kernels_available() == False`
(tests/test_kernels_namespace.py proves it).
"""
