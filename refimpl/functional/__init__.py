"""Pure functions `f(...)` with `f_backward(grad_out, <same inputs>)` beside them, one concept per module:

    from refimpl.functional.attention import scaled_dot_product_attention, scaled_dot_product_attention_backward

Nothing is re-exported here on purpose: several modules share their name with their main function
(`dropout`, `linear`, `interpolate`, `grid_sample`, `embedding`), and a re-export would shadow the module.
"""
