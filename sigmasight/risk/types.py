"""Array aliases shared by the risk modules.

Sign conventions for the whole package: returns are simple fractions (0.01 = 1 %), never
percentages; loss measures (VaR, CVaR/ES, max drawdown) are **positive** fractions; P&L,
betas and return impacts keep their natural sign.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating[Any]]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.integer[Any]]

TRADING_DAYS = 252
