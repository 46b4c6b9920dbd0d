"""EM layer: E-step over chunks, M-step per CPD, and the loop that owns them."""
