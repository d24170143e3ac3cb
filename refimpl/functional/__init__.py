"""Pure functions `f(...)` with `f_backward(grad_out, <same inputs>)` beside them."""
