"""Statistical models: fit / predict estimators (lifelines and scikit-learn conventions).

* :mod:`sinergia.models.rfm` - transaction log → per-customer frequency / recency / age / spend.
* :mod:`sinergia.models.clv` - BG/NBD, Gamma-Gamma and shifted-beta-geometric lifetime-value models.

Import from the submodules (``from sinergia.models.clv import BetaGeoFitter``): this package stays light so
that each model family loads only what it needs.
"""

from __future__ import annotations
