"""Quantisation arithmetic: the seed's affine mapping, used to check and describe the
int8 weights the post-training stages produce."""
