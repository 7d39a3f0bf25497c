"""Knowledge distillation: teachers, students, cached teacher outputs and the KD losses.

The KD methods in methods/kd_*.py are thin: they pick a loss and the teacher outputs it
needs; everything here is shared, and training goes through the one loop (bench/train.py).
"""
