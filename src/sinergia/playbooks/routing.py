"""Route each inbound request (ticket or e-mail) to Support (reactive) or CS (strategic), with the reason.

Two stages, first match wins:

1. **Ordered rules** on metadata (tags, requester role) and on keywords in the subject and text. Keywords are
   matched as whole words after lower-casing and removing accents, in Portuguese and English. The decision names
   the rule and the word that matched.
2. **A text classifier** (TF-IDF of accent-folded words and word pairs + logistic regression) trained from labelled
   history. The decision carries the probability of the chosen queue and the terms that pushed it there most
   (TF-IDF weight × coefficient).

With no rule match and no classifier, the request goes to ``support`` with reason ``default`` (reactive work is
never dropped). The model folder holds only JSON (vocabulary, idf, coefficients): loading it runs no code.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sinergia.errors import InputError, ModelError, UsageError

Queue = Literal["support", "cs"]
QUEUES: tuple[Queue, Queue] = ("support", "cs")
MODEL_FILE = "routing_model.json"
FORMAT_VERSION = 1


def fold(text: str) -> str:
    """Lower-case, strip accents (NFKD, combining marks removed) and squash whitespace."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain).strip()


@dataclass(frozen=True)
class Request:
    """One inbound request: free text plus the metadata a help desk or mailbox gives."""

    text: str
    subject: str = ""
    channel: str | None = None
    requester_role: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutingRule:
    """A rule matches when any of its tags, roles, channels or keywords is present (each list optional)."""

    name: str
    queue: Queue
    keywords: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    def match(self, request: Request) -> str | None:
        """What matched (``tag:x``, ``role:x``, ``channel:x`` or ``keyword:x``), or None."""
        tags = {fold(t) for t in request.tags}
        for tag in self.tags:
            if fold(tag) in tags:
                return f"tag:{tag}"
        if request.requester_role and fold(request.requester_role) in {fold(r) for r in self.roles}:
            return f"role:{request.requester_role}"
        if request.channel and fold(request.channel) in {fold(c) for c in self.channels}:
            return f"channel:{request.channel}"
        body = f" {fold(request.subject)} {fold(request.text)} "
        words = f" {re.sub(r'[^0-9a-z]+', ' ', body)} "
        for keyword in self.keywords:
            if f" {re.sub(r'[^0-9a-z]+', ' ', fold(keyword)).strip()} " in words:
                return f"keyword:{keyword}"
        return None


# Order matters: explicit tags first, then a failure (even from an executive, it is Support's now), then strategic
# conversations, then billing and how-to questions, then the requester's role.
DEFAULT_RULES: tuple[RoutingRule, ...] = (
    RoutingRule("tag_support", "support", tags=("bug", "incident", "incidente", "outage", "billing", "how-to",
                                                "duvida", "problem", "problema")),
    RoutingRule("tag_cs", "cs", tags=("renewal", "renovacao", "expansion", "expansao", "upsell", "qbr",
                                      "executive", "executivo", "churn-risk", "onboarding")),
    RoutingRule("failure", "support", keywords=(
        "bug", "erro", "error", "falha", "failure", "fails", "failing", "fora do ar", "down", "outage",
        "indisponivel", "unavailable", "travando", "crash", "crashes", "nao funciona", "not working",
        "doesn't work", "broken", "quebrado", "lento", "slow", "500", "503", "429")),
    RoutingRule("strategic", "cs", keywords=(
        "renovacao", "renovar", "renewal", "renew", "contrato", "contract", "expansao", "expansion", "upgrade",
        "mais licencas", "more licenses", "more seats", "upsell", "qbr", "business review", "roadmap", "metas",
        "objetivos", "goals", "objectives", "adocao", "adoption", "roi", "cancelamento", "cancelar", "cancel",
        "cancellation", "executivo", "executive", "parceria", "partnership", "estrategia", "strategy",
        "treinamento", "training", "onboarding", "recommendation", "recomendacao")),
    RoutingRule("billing", "support", keywords=(
        "fatura", "boleto", "cobranca", "cobrado", "cobrados", "nota fiscal", "invoice", "charge", "charged",
        "refund", "estorno", "reembolso", "payment", "pagamento")),
    RoutingRule("how_to", "support", keywords=(
        "como", "how do i", "how to", "duvida", "question", "senha", "password", "login", "acesso", "access")),
    RoutingRule("executive_requester", "cs", roles=(
        "ceo", "cfo", "cto", "coo", "vp", "director", "diretor", "diretora", "executive", "executivo", "sponsor",
        "owner", "dono")),
)


@dataclass(frozen=True)
class RouteDecision:
    queue: Queue
    method: Literal["rule", "classifier", "default"]
    reason: str
    rule: str | None = None
    probability: float | None = None
    top_terms: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "method": self.method, "reason": self.reason, "rule": self.rule,
                "probability": self.probability, "top_terms": list(self.top_terms)}


@dataclass
class TextClassifier:
    """TF-IDF (accent-folded unigrams and bigrams, sublinear tf, l2) + logistic regression; ``cs`` is class 1."""

    vocabulary: dict[str, int] = field(default_factory=dict)
    idf: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intercept: float = 0.0
    min_df: int = 2
    evaluation: dict[str, Any] | None = None
    n_rows: int = 0

    def _vectorizer(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(preprocessor=fold, ngram_range=(1, 2), sublinear_tf=True, min_df=self.min_df,
                               token_pattern=r"(?u)\b\w\w+\b")

    def fit(self, texts: Sequence[str], labels: Sequence[str], *, seed: int = 0) -> TextClassifier:
        from sklearn.linear_model import LogisticRegression

        y = _encode(labels)
        if len(set(y.tolist())) < 2:
            raise ModelError("routing training needs both labels (support and cs) in the data")
        vectorizer = self._vectorizer()
        try:
            matrix = vectorizer.fit_transform(list(texts))
        except ValueError as error:  # empty vocabulary
            raise ModelError(f"cannot build a vocabulary from the training texts ({error})") from None
        model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000, random_state=seed)
        model.fit(matrix, y)
        self.vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        self.idf = np.asarray(vectorizer.idf_, dtype=float)
        self.coef = np.asarray(model.coef_[0], dtype=float)
        self.intercept = float(model.intercept_[0])
        self.n_rows = len(y)
        return self

    def _transform(self, texts: Sequence[str]) -> Any:
        from sklearn.feature_extraction.text import CountVectorizer

        if not self.vocabulary:
            raise ModelError("the routing classifier is not fitted")
        counts = CountVectorizer(preprocessor=fold, ngram_range=(1, 2), vocabulary=self.vocabulary,
                                 token_pattern=r"(?u)\b\w\w+\b").transform(list(texts)).astype(float)
        counts.data = 1.0 + np.log(counts.data)  # sublinear tf
        weighted = counts.multiply(self.idf).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return weighted.multiply(1.0 / norms[:, None]).tocsr()

    def predict_proba_cs(self, texts: Sequence[str]) -> np.ndarray:
        matrix = self._transform(texts)
        z = matrix @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=float)

    def explain(self, text: str, k: int = 5) -> tuple[float, tuple[str, ...]]:
        """P(cs) and the ``k`` terms that pushed the decision most towards the chosen queue."""
        row = self._transform([text])
        contributions = row.multiply(self.coef).tocsr()
        p = float(1.0 / (1.0 + math.exp(-(float(contributions.sum()) + self.intercept))))
        sign = 1.0 if p >= 0.5 else -1.0
        names = {v: k for k, v in self.vocabulary.items()}
        pairs = [(names[int(j)], float(c) * sign)
                 for j, c in zip(contributions.indices, contributions.data, strict=True)]
        top = [name for name, c in sorted(pairs, key=lambda t: -t[1]) if c > 0][:k]
        return p, tuple(top)

    def save(self, directory: Path | str) -> Path:
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        data = {"kind": "sinergia.routing", "format_version": FORMAT_VERSION, "classes": {"0": "support", "1": "cs"},
                "min_df": self.min_df, "n_rows": self.n_rows, "intercept": self.intercept,
                "vocabulary": self.vocabulary, "idf": self.idf.tolist(), "coef": self.coef.tolist(),
                "evaluation": self.evaluation}
        tmp = folder / f".{MODEL_FILE}.tmp"
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp.replace(folder / MODEL_FILE)
        return folder

    @classmethod
    def load(cls, directory: Path | str) -> TextClassifier:
        path = Path(directory) / MODEL_FILE
        if not path.is_file():
            raise InputError(f"{directory}: not a routing model folder (needs {MODEL_FILE})")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("kind") != "sinergia.routing" or data.get("format_version") != FORMAT_VERSION:
                raise InputError(f"{path}: unsupported model format {data.get('kind')} v{data.get('format_version')}")
            return cls(vocabulary={str(k): int(v) for k, v in data["vocabulary"].items()},
                       idf=np.asarray(data["idf"], dtype=float), coef=np.asarray(data["coef"], dtype=float),
                       intercept=float(data["intercept"]), min_df=int(data["min_df"]),
                       evaluation=data.get("evaluation"), n_rows=int(data["n_rows"]))
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"{path}: damaged routing model ({type(error).__name__}: {error})") from None


def _encode(labels: Iterable[str]) -> np.ndarray:
    out = []
    for label in labels:
        value = fold(str(label))
        if value not in QUEUES:
            raise InputError(f"routing label '{label}' is not 'support' or 'cs'")
        out.append(1 if value == "cs" else 0)
    return np.asarray(out, dtype=int)


@dataclass
class Router:
    """Rules first (in order), then the classifier, then the default queue."""

    rules: tuple[RoutingRule, ...] = DEFAULT_RULES
    classifier: TextClassifier | None = None
    default: Queue = "support"

    def route(self, request: Request) -> RouteDecision:
        for rule in self.rules:
            matched = rule.match(request)
            if matched is not None:
                return RouteDecision(rule.queue, "rule", f"rule {rule.name} matched {matched}", rule=rule.name)
        if self.classifier is not None:
            p_cs, terms = self.classifier.explain(f"{request.subject} {request.text}")
            queue: Queue = "cs" if p_cs >= 0.5 else "support"
            p = p_cs if queue == "cs" else 1.0 - p_cs
            reason = f"classifier P({queue})={p:.2f}; top terms: {', '.join(terms) or '(none)'}"
            return RouteDecision(queue, "classifier", reason, probability=round(p, 4), top_terms=terms)
        return RouteDecision(self.default, "default", f"no rule matched and no classifier: default {self.default}")


@dataclass(frozen=True)
class Evaluation:
    n_train: int
    n_test: int
    accuracy: float
    macro_f1: float
    confusion: dict[str, dict[str, int]]

    def as_dict(self) -> dict[str, Any]:
        return {"n_train": self.n_train, "n_test": self.n_test, "accuracy": self.accuracy,
                "macro_f1": self.macro_f1, "confusion": self.confusion}


def score(truth: Sequence[str], predicted: Sequence[str]) -> tuple[float, float, dict[str, dict[str, int]]]:
    """Accuracy, macro-F1 over the two queues, and the confusion table (truth → predicted → count)."""
    if len(truth) != len(predicted) or not truth:
        raise UsageError("score needs two non-empty label lists of equal length")
    confusion: dict[str, dict[str, int]] = {t: dict.fromkeys(QUEUES, 0) for t in QUEUES}
    for t, p in zip(truth, predicted, strict=True):
        confusion[t][p] += 1
    accuracy = sum(confusion[q][q] for q in QUEUES) / len(truth)
    f1s = []
    for q in QUEUES:
        tp = confusion[q][q]
        fp = sum(confusion[o][q] for o in QUEUES if o != q)
        fn = sum(confusion[q][o] for o in QUEUES if o != q)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return accuracy, sum(f1s) / len(f1s), confusion


def train_and_evaluate(texts: Sequence[str], labels: Sequence[str], *, test_size: float = 0.25,
                       seed: int = 42) -> tuple[TextClassifier, Evaluation]:
    """Stratified hold-out evaluation of the classifier, then a final fit on all rows (the returned model)."""
    from sklearn.model_selection import train_test_split

    y = [fold(str(v)) for v in labels]
    _encode(y)
    idx = np.arange(len(y))
    train_idx, test_idx = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y)
    held = TextClassifier().fit([texts[i] for i in train_idx], [y[i] for i in train_idx], seed=seed)
    p = held.predict_proba_cs([texts[i] for i in test_idx])
    predicted = ["cs" if v >= 0.5 else "support" for v in p]
    accuracy, macro_f1, confusion = score([y[i] for i in test_idx], predicted)
    evaluation = Evaluation(len(train_idx), len(test_idx), round(accuracy, 4), round(macro_f1, 4), confusion)
    final = TextClassifier().fit(texts, y, seed=seed)
    final.evaluation = evaluation.as_dict()
    return final, evaluation


def record_decisions(store_url: str, decisions: Sequence[tuple[str, str | None, RouteDecision]]) -> int:
    """Store ``(request ref, account id, decision)`` rows in ``route_decisions`` (the app shows the reason)."""
    from sqlalchemy.orm import Session

    from sinergia.store.db import make_engine
    from sinergia.store.migrate import upgrade_store
    from sinergia.store.models import utcnow
    from sinergia.store.playbook_models import RouteDecisionRow

    upgrade_store(store_url)
    engine = make_engine(store_url)
    try:
        with Session(engine) as session, session.begin():
            now = utcnow()
            session.add_all([RouteDecisionRow(request_ref=ref[:300], account_id=account, queue=d.queue,
                                              method=d.method, rule=d.rule, probability=d.probability,
                                              reason=d.reason, decided_at=now) for ref, account, d in decisions])
    finally:
        engine.dispose()
    return len(decisions)
