"""codesign: estimator training and joint network/accelerator search on top of accelsim."""

__version__ = "0.1.0"
