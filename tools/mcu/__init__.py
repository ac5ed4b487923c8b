"""The generated C model on an emulated Cortex-M4 (QEMU mps2-an386): `python -m tools.mcu.check`."""
