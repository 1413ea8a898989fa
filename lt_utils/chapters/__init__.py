"""The extension chapters' studies, built on :mod:`lt_utils.lottery`.

- :mod:`lt_utils.chapters.landscape`: inside IMP with weight rewinding (Saleem et al.):
  distances between levels, interpolation and Hessian spectra;
- :mod:`lt_utils.chapters.transform`: finding against transforming tickets (DLTH's RST, UniLTH,
  UniDLTH).
"""

from lt_utils.chapters.landscape import (
    COMPARED,
    LandscapeConfig,
    LandscapeResult,
    barriers,
    landscape_config,
    landscape_experiment,
    run_landscape,
    smoke_landscape,
    spectrum_summary,
)
from lt_utils.chapters.transform import (
    METHODS,
    DualConfig,
    TransformConfig,
    dual_config,
    dual_experiment,
    dual_summary,
    run_dual,
    smoke_dual,
)

__all__ = [
    "COMPARED", "METHODS", "DualConfig", "LandscapeConfig", "LandscapeResult", "TransformConfig", "barriers",
    "dual_config", "dual_experiment", "dual_summary", "landscape_config", "landscape_experiment", "run_dual",
    "run_landscape", "smoke_dual", "smoke_landscape", "spectrum_summary",
]
