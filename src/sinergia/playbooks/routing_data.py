"""The labelled Support-vs-CS set built from the shared public data (a documented, reproducible procedure).

No public dataset carries a "Support or CS" label, so one is derived from labels the sources already have:

* **Olist classified reviews** (real, Portuguese; ``olist/classified_reviews_v1``): 3 annotators labelled each
  review's complaint class. ``problemas_de_entrega`` and ``problemas_de_qualidade`` report a problem to solve now →
  ``support``; ``satisfeito_com_pedido`` is relationship feedback with nothing to fix (the advocacy / promoter
  conversation a CSM owns) → ``cs``. Text = title + message.
* **Kaggle customer-support tickets** (synthetic, English;
  ``support_tickets/kaggle_customer_support_tickets_SYNTHETIC``):
  the ``Ticket Subject`` names the request. ``Cancellation request`` (retention, renewal risk) and ``Product
  recommendation`` (what else to buy: expansion advice) → ``cs``; the 14 other subjects (bugs, setup, access,
  payment, refund, delivery, hardware…) → ``support``. Text = subject + description (the description is a random
  template and carries almost no signal by itself; see docs/playbooks.md).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sinergia.errors import InputError

OLIST_FILE = "olist/classified_reviews_v1/olist_classified_public_dataset.train.csv"
KAGGLE_FILE = "support_tickets/kaggle_customer_support_tickets_SYNTHETIC/customer_support_tickets.csv"
OLIST_MAP = {"problemas_de_entrega": "support", "problemas_de_qualidade": "support", "satisfeito_com_pedido": "cs"}
KAGGLE_CS_SUBJECTS = frozenset({"Cancellation request", "Product recommendation"})


def _text(*parts: pd.Series) -> pd.Series:
    out = parts[0].fillna("").astype(str)
    for part in parts[1:]:
        out = out + " " + part.fillna("").astype(str)
    return out.str.strip()


def labelled_set(data_dir: Path) -> pd.DataFrame:
    """Columns ``source``, ``language``, ``text``, ``label`` (support|cs), in file order."""
    frames = []
    olist_path, kaggle_path = data_dir / OLIST_FILE, data_dir / KAGGLE_FILE
    for path in (olist_path, kaggle_path):
        if not path.is_file():
            raise InputError(f"{path}: not found (the labelled routing set is built from ../shared/data)")
    olist = pd.read_csv(olist_path)
    olist = olist[olist["most_voted_class"].isin(list(OLIST_MAP))]
    frames.append(pd.DataFrame({
        "source": "olist_classified_reviews", "language": "pt",
        "text": _text(olist["review_comment_title"], olist["review_comment_message"]),
        "label": olist["most_voted_class"].map(OLIST_MAP)}))
    kaggle = pd.read_csv(kaggle_path)
    frames.append(pd.DataFrame({
        "source": "kaggle_support_tickets_synthetic", "language": "en",
        "text": _text(kaggle["Ticket Subject"], kaggle["Ticket Description"]),
        "label": kaggle["Ticket Subject"].map(lambda s: "cs" if s in KAGGLE_CS_SUBJECTS else "support")}))
    data = pd.concat(frames, ignore_index=True)
    return data[data["text"].str.len() > 0].reset_index(drop=True)
