"""Zero-shot and few-shot classifiers on embedding matrices (plain numpy / scikit-learn).

Everything here works on unit vectors already in the catalog, so a new scenario
over an indexed archive costs a few prompt embeddings and matrix products, never
another pass of the image model.

Zero-shot. A class's text vector is the mean of its positive prompt embeddings
(a prompt ensemble, as in CLIP). Negative prompts are *subtracted* from it:
``w_c = normalise(mean(pos_c) - NEGATIVE_WEIGHT * mean(neg_c))``, so the score
``x . w_c`` drops for images that look like the confusable thing. Subtracting was
chosen over adding negatives as extra "background" classes because it keeps the
output classes exactly the user's classes (the probability vector stored per item
is the soft target distillation trains on, and background columns would have to
be folded back in arbitrarily) and costs nothing at label time.
Cosines become probabilities by a softmax with temperature T.

Calibration. With labeled examples, T is fitted by minimising their negative
log-likelihood (temperature scaling, Guo et al. 2017) and the expected
calibration error is reported. Without any, T comes from ``DEFAULT_TEMPERATURES``:
fitted once per embedder on real labeled data (see the table's comment).

Few-shot. Three candidates, all on the same embeddings:

* ``zero-shot``: the prompts alone;
* ``tip-adapter``: a training-free cache model (Zhang et al. 2022, Tip-Adapter):
  logits = x.W/T + alpha * exp(-beta (1 - x.K)) @ onehot(labels) / counts, where K
  are the example vectors (the mean affinity per class, where the paper sums: answers
  from a review queue are unbalanced);
* ``linear-probe``: multinomial logistic regression on the embeddings (the
  standard few-shot baseline of CLIP's paper), on the concept vector *and*, where
  the embedder has them, the image model's pooled backbone features (rows are then
  ``[vector | features]``; only the probe reads the second part).

Selection (``fit_classifier``), in this documented order:

1. no examples at all -> zero-shot with the default temperature;
2. some class has no example -> zero-shot, T fitted on the examples there are
   (an adapter would pull items towards the classes that have some), with a warning;
3. some class has a single example (stratified cross-validation impossible)
   -> ``ONE_SHOT_METHOD`` with fixed parameters, T fitted on the examples by
   zero-shot NLL;
4. every class has >= 2 examples -> stratified k-fold cross-validation over
   zero-shot, a small tip-adapter grid and a small probe grid. A candidate whose
   held-out predictions are all one class is never chosen while another is left
   (on two balanced classes such a constant classifier scores 0.5 and used to win
   ties). The probe is the default; another candidate replaces it only when its
   out-of-fold accuracy is higher by more than one binomial standard error (ties
   and noise go to the probe). T is fitted on the winner's out-of-fold logits and
   the winner is refitted on all examples.

Never silently constant: the fitted classifier carries ``warnings`` (no example of
some class, cross-validation accuracy not clearly above chance by a one-sided
binomial test, every candidate constant), and ``one_class_warning`` flags a
labeling run that gave (nearly) every item one class. Auto-label reports both;
the CLI prints them and the REST job returns them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from scipy.stats import binomtest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from vigil.embedders.base import l2_normalize
from vigil.errors import InvalidInputError
from vigil.scenarios.spec import ScenarioSpec

Method = Literal["zero-shot", "tip-adapter", "linear-probe"]

NEGATIVE_WEIGHT = 0.5  # how far a negative prompt pushes its class vector away
# Default softmax temperatures for cosine logits when no labeled example exists.
# concept-bridge: 0.118, fitted by ``fit_temperature`` on zero-shot cosines of 320 real
# Fashion-MNIST *train* images (32 per class, seed 0, the prompt ensemble of
# ``vigil.scenarios.evaluate``); the test subset then measured ECE 0.048 with it.
# Other embedders fall back to CLIP's learned logit scale (100 -> T = 0.01).
DEFAULT_TEMPERATURES: dict[str, float] = {
    "concept-bridge:effnet-lite0+ssd-mnv2-coco+minilm-l6-v1": 0.118,
}
FALLBACK_TEMPERATURE = 0.01
# Tip-Adapter without cross-validation (some class has a single example). The paper's
# alpha=1 balances CLIP's logits x100; on our temperature-scaled logits the cache term
# needs more weight: alpha=4 took 1-shot Fashion-MNIST from 0.245 to 0.305 accuracy
# (zero-shot 0.192) with concept-bridge (``vigil eval scenario``, 5 draws).
TIP_DEFAULT_ALPHA = 4.0
TIP_DEFAULT_BETA = 5.5  # the paper's default sharpness
# With one example of some class (no cross-validation possible): the probe. On 1-shot
# Fashion-MNIST (20/class train pool, 30/class test, 5 draws) it scored 0.432 with backbone
# features and 0.293 on the concept vector alone, against 0.281 for the cache model.
ONE_SHOT_METHOD: Method = "linear-probe"
TIP_GRID_ALPHA = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
TIP_GRID_BETA = (1.0, 3.0, 5.5, 10.0, 20.0)
PROBE_GRID_C = (1.0, 10.0, 100.0)  # inverse L2 strength; unit vectors need a weak prior
CV_FOLDS = 5
_T_BOUNDS = (1e-4, 10.0)


def default_temperature(model_id: str) -> float:
    """The calibrated default temperature of an embedder's cosine logits."""
    return DEFAULT_TEMPERATURES.get(model_id, FALLBACK_TEMPERATURE)


def class_text_vectors(
    spec: ScenarioSpec, embed_texts: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """(C, D) unit class vectors: mean positive prompt minus weighted mean negative prompt."""
    rows = []
    for item in spec.classes:
        positive = embed_texts(item.prompts).mean(axis=0)
        if item.negative_prompts:
            positive = positive - NEGATIVE_WEIGHT * embed_texts(item.negative_prompts).mean(axis=0)
        rows.append(positive)
    return l2_normalize(np.stack(rows).astype(np.float32))


_CLASS_VECTOR_CACHE: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_CLASS_VECTOR_CACHE_SIZE = 64
_class_vector_lock = threading.Lock()


def cached_class_text_vectors(
    spec: ScenarioSpec, model_id: str, embed_texts: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """``class_text_vectors``, remembered per (model, prompts) for this process.

    Why: the review queue builds the classifier on every request, and re-embedding a
    scenario's prompts each time let one large scenario stall every reader. The key is
    the prompts themselves (not the scenario's id and version), so an edited version
    with new prompts is embedded afresh and two catalogs never share a wrong entry.
    """
    prompts = [(item.prompts, item.negative_prompts) for item in spec.classes]
    key = (model_id, hashlib.sha256(json.dumps(prompts).encode()).hexdigest())
    with _class_vector_lock:
        found = _CLASS_VECTOR_CACHE.get(key)
        if found is not None:
            _CLASS_VECTOR_CACHE.move_to_end(key)
            return found.copy()
    vectors = class_text_vectors(spec, embed_texts)
    with _class_vector_lock:
        _CLASS_VECTOR_CACHE[key] = vectors.copy()
        while len(_CLASS_VECTOR_CACHE) > _CLASS_VECTOR_CACHE_SIZE:
            _CLASS_VECTOR_CACHE.popitem(last=False)
    return vectors


def probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row softmax of ``logits / temperature`` (numerically stable)."""
    result: np.ndarray = softmax(logits / temperature, axis=1).astype(np.float32)
    return result


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T minimising the NLL of ``softmax(logits / T)`` on labeled rows."""
    if len(labels) == 0:
        raise InvalidInputError("fitting a temperature needs at least one labeled example")

    def nll(log_t: float) -> float:
        return _nll(logits, labels, float(np.exp(log_t)))

    best = minimize_scalar(
        nll, bounds=(np.log(_T_BOUNDS[0]), np.log(_T_BOUNDS[1])), method="bounded"
    )
    return float(np.exp(best.x))


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    scaled = log_softmax(logits / temperature, axis=1)
    return float(-scaled[np.arange(len(labels)), labels].mean())


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: |accuracy - confidence| averaged over equal-width confidence bins, by count."""
    if len(labels) == 0:
        return float("nan")
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def tip_adapter_logits(
    vectors: np.ndarray,
    text_vectors: np.ndarray,
    keys: np.ndarray,
    key_labels: np.ndarray,
    *,
    alpha: float,
    beta: float,
    temperature: float,
) -> np.ndarray:
    """Zero-shot logits plus the Tip-Adapter cache term, (N, C)."""
    zero_shot: np.ndarray = vectors @ text_vectors.T / temperature  # (N, C)
    if len(keys) == 0:
        return zero_shot
    affinity = np.exp(-beta * (1.0 - vectors @ keys.T))  # (N, K)
    one_hot = np.eye(text_vectors.shape[0], dtype=np.float32)[key_labels]  # (K, C)
    # Mean rather than the paper's sum over a class's examples: answers from a review
    # queue are unbalanced, and a sum would favour whichever class got more of them.
    counts = np.maximum(one_hot.sum(axis=0), 1.0)  # (C,)
    result: np.ndarray = zero_shot + alpha * (affinity @ one_hot) / counts
    return result


def _fit_probe(vectors: np.ndarray, labels: np.ndarray, c: float) -> LogisticRegression:
    probe = LogisticRegression(C=c, max_iter=2000)
    with warnings.catch_warnings():
        # A few-shot problem is often separable, so lbfgs may stop at max_iter on a
        # weak prior; the solution is still the usable max-margin direction.
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(vectors, labels)
    return probe


def _probe_logits(probe: LogisticRegression, vectors: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, C) log-probabilities in the scenario's class order (absent classes get -inf-ish)."""
    result = np.full((len(vectors), n_classes), -30.0, dtype=np.float64)
    result[:, probe.classes_] = probe.predict_log_proba(vectors)
    return result


@dataclass
class ScenarioClassifier:
    """A fitted classifier for one scenario over one embedding space."""

    method: Method
    class_names: tuple[str, ...]
    text_vectors: np.ndarray  # (C, D) unit class vectors
    temperature: float  # applied to the method's logits
    zero_shot_temperature: float  # applied to cosines for the zero-shot view (review queue)
    params: dict[str, float] = field(default_factory=dict)
    keys: np.ndarray | None = None  # tip-adapter cache (K, D)
    key_labels: np.ndarray | None = None  # (K,)
    probe: LogisticRegression | None = None
    examples: int = 0  # labeled examples it was fitted on
    cv_accuracy: dict[str, float] = field(default_factory=dict)  # candidate -> CV accuracy
    ece: float | None = None  # on out-of-fold (or example) predictions; None without labels
    # > 0: rows are [concept vector (D) | backbone features (B)]; the probe sees both,
    # the prompts and the cache model the concept part only.
    backbone_dim: int = 0
    warnings: list[str] = field(default_factory=list)  # why its labels may not be trusted
    cv_recall: dict[str, float] = field(default_factory=dict)  # class -> out-of-fold recall

    @property
    def input_dim(self) -> int:
        """Columns of the rows it scores: the vector, plus backbone features if it uses them."""
        return int(self.text_vectors.shape[1]) + self.backbone_dim

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        """Un-tempered logits (N, C) of the fitted method."""
        return _method_logits(
            self.method,
            vectors,
            self.text_vectors,
            params=self.params,
            zero_shot_temperature=self.zero_shot_temperature,
            keys=self.keys,
            key_labels=self.key_labels,
            probe=self.probe,
        )

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (N, C) in ``class_names`` order."""
        _check_vectors(vectors, self.input_dim)
        return probabilities(self.logits(vectors), self.temperature)

    def zero_shot_proba(self, vectors: np.ndarray) -> np.ndarray:
        """What the prompts alone say, for disagreement with the adapted model."""
        _check_vectors(vectors, self.input_dim)
        concept = vectors[:, : self.text_vectors.shape[1]]
        return probabilities(concept @ self.text_vectors.T, self.zero_shot_temperature)

    @property
    def description(self) -> str:
        params = ", ".join(f"{key}={value:g}" for key, value in self.params.items())
        name: str = self.method
        if self.method == "linear-probe" and self.backbone_dim:
            name += "+backbone"
        return f"{name}({params})" if params else name


def _check_vectors(vectors: np.ndarray, dim: int) -> None:
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise InvalidInputError(f"expected (N, {dim}) vectors, got shape {vectors.shape}")


def _method_logits(
    method: Method,
    vectors: np.ndarray,
    text_vectors: np.ndarray,
    *,
    params: dict[str, float],
    zero_shot_temperature: float,
    keys: np.ndarray | None = None,
    key_labels: np.ndarray | None = None,
    probe: LogisticRegression | None = None,
) -> np.ndarray:
    concept = vectors[:, : text_vectors.shape[1]]  # the prompts live in this part only
    if method == "zero-shot":
        cosines: np.ndarray = concept @ text_vectors.T
        return cosines
    if method == "tip-adapter":
        assert keys is not None and key_labels is not None
        return tip_adapter_logits(
            concept,
            text_vectors,
            keys,
            key_labels,
            alpha=params["alpha"],
            beta=params["beta"],
            temperature=zero_shot_temperature,
        )
    assert probe is not None
    return _probe_logits(probe, vectors, text_vectors.shape[0])


def _candidates() -> list[tuple[Method, dict[str, float]]]:
    found: list[tuple[Method, dict[str, float]]] = [("zero-shot", {})]
    found += [
        ("tip-adapter", {"alpha": a, "beta": b}) for a in TIP_GRID_ALPHA for b in TIP_GRID_BETA
    ]
    found += [("linear-probe", {"C": c}) for c in PROBE_GRID_C]
    return found


def fit_classifier(
    text_vectors: np.ndarray,
    class_names: tuple[str, ...],
    vectors: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    *,
    default_t: float = FALLBACK_TEMPERATURE,
    seed: int = 0,
    methods: tuple[Method, ...] | None = None,
    backbone_dim: int = 0,
) -> ScenarioClassifier:
    """Fit the best classifier for the examples given (see the module docstring for the order).

    ``vectors`` (K, D + backbone_dim) and ``labels`` (K,) are labeled examples (spec
    examples and human answers); with ``backbone_dim`` > 0 each row is the concept
    vector followed by the image model's pooled features, which only the probe
    uses. ``methods`` restricts the candidates (the evaluation uses it to measure
    each method on its own).

    >>> model = fit_classifier(text_vectors, ("smoke", "clear"), examples, labels)  # doctest: +SKIP
    >>> model.predict_proba(archive_vectors)  # doctest: +SKIP
    """
    n_classes = len(class_names)
    if text_vectors.shape[0] != n_classes:
        raise InvalidInputError(f"expected {n_classes} class vectors, got {text_vectors.shape[0]}")
    dim = text_vectors.shape[1]
    if vectors is None or labels is None or len(labels) == 0:
        return ScenarioClassifier("zero-shot", class_names, text_vectors, default_t, default_t)
    _check_vectors(vectors, dim + backbone_dim)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(vectors),) or labels.min() < 0 or labels.max() >= n_classes:
        raise InvalidInputError(
            f"labels must be {len(vectors)} class indices in [0, {n_classes}), got "
            f"shape {labels.shape}, range [{labels.min()}, {labels.max()}]"
        )
    vectors = vectors.astype(np.float32)
    concept = vectors[:, :dim]
    cosines = concept @ text_vectors.T
    # Zero-shot is not trained on the examples, so fitting T on them does not leak.
    zs_t = fit_temperature(cosines, labels)
    counts = np.bincount(labels, minlength=n_classes)
    allowed: set[str] = set(methods or ("zero-shot", "tip-adapter", "linear-probe"))
    names, examples = class_names, len(labels)
    if counts.min() == 0 or allowed == {"zero-shot"}:
        # A class without examples: any adapter would pull items towards the classes
        # that have some, so the examples only calibrate the zero-shot temperature.
        ece = expected_calibration_error(probabilities(cosines, zs_t), labels)
        model = ScenarioClassifier(
            "zero-shot", names, text_vectors, zs_t, zs_t, examples=examples, ece=ece
        )
        missing = [class_names[i] for i in np.flatnonzero(counts == 0)]
        if missing and len(missing) < n_classes:
            model.warnings.append(
                f"no example of {', '.join(map(repr, missing))}: the examples only calibrate "
                "the prompts (zero-shot); give every class at least one"
            )
        return model
    if counts.min() < 2:
        one_shot = ONE_SHOT_METHOD if ONE_SHOT_METHOD in allowed else None
        if one_shot is None:
            one_shot = "linear-probe" if "linear-probe" in allowed else "tip-adapter"
        if one_shot == "tip-adapter":
            params = {"alpha": TIP_DEFAULT_ALPHA, "beta": TIP_DEFAULT_BETA}
            model = ScenarioClassifier(
                "tip-adapter",
                names,
                text_vectors,
                1.0,
                zs_t,
                params=params,
                keys=concept,
                key_labels=labels,
                examples=examples,
            )
        else:
            probe = _fit_probe(vectors, labels, PROBE_GRID_C[-1])
            model = ScenarioClassifier(
                "linear-probe",
                names,
                text_vectors,
                1.0,
                zs_t,
                params={"C": PROBE_GRID_C[-1]},
                probe=probe,
                examples=examples,
                backbone_dim=backbone_dim,
            )
        model.warnings += _constant_on_examples(model, vectors, labels)
        return model
    return _cross_validate(
        text_vectors,
        class_names,
        vectors,
        labels,
        allowed,
        seed=seed,
        zs_t=zs_t,
        backbone_dim=backbone_dim,
    )


def _cross_validate(
    text_vectors: np.ndarray,
    class_names: tuple[str, ...],
    vectors: np.ndarray,
    labels: np.ndarray,
    allowed: set[str],
    *,
    seed: int,
    zs_t: float,
    backbone_dim: int,
) -> ScenarioClassifier:
    """Step 4 of the selection: stratified k-fold over every allowed candidate."""
    n_classes = len(class_names)
    dim = text_vectors.shape[1]
    concept = vectors[:, :dim]
    cosines = concept @ text_vectors.T
    counts = np.bincount(labels, minlength=n_classes)
    candidates = [c for c in _candidates() if c[0] in allowed]
    folds = min(CV_FOLDS, int(counts.min()))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out_of_fold = {i: np.zeros((len(labels), n_classes)) for i in range(len(candidates))}
    for train, test in splitter.split(vectors, labels):
        fold_t = fit_temperature(cosines[train], labels[train])
        probes: dict[float, LogisticRegression] = {}
        for i, (method, params) in enumerate(candidates):
            probe = None
            if method == "linear-probe":
                c = params["C"]
                if c not in probes:
                    probes[c] = _fit_probe(vectors[train], labels[train], c)
                probe = probes[c]
            out_of_fold[i][test] = _method_logits(
                method,
                vectors[test],
                text_vectors,
                params=params,
                zero_shot_temperature=fold_t,
                keys=concept[train],
                key_labels=labels[train],
                probe=probe,
            )
    predicted = {i: out_of_fold[i].argmax(axis=1) for i in range(len(candidates))}
    accuracy = {i: float((predicted[i] == labels).mean()) for i in range(len(candidates))}
    # Ties in accuracy are common with few examples; the out-of-fold log-loss (each
    # candidate at its own best temperature) breaks them by how sure it was when right.
    temperatures = {i: fit_temperature(out_of_fold[i], labels) for i in range(len(candidates))}
    losses = {i: _nll(out_of_fold[i], labels, temperatures[i]) for i in range(len(candidates))}
    # A candidate that gave every held-out example the same class learned nothing
    # (on two balanced classes it scores 0.5 and can still win a tie): never pick it
    # while another is left.
    varied = [i for i in range(len(candidates)) if len(np.unique(predicted[i])) > 1]
    warnings_: list[str] = []
    if not varied:
        varied = list(range(len(candidates)))
        warnings_.append(
            f"every method gave all {len(labels)} held-out examples one class in "
            "cross-validation: the examples do not separate the classes; expect one class "
            "for nearly every item"
        )
    best = max(varied, key=lambda i: (accuracy[i], -losses[i], -i))
    probes_left = [i for i in varied if candidates[i][0] == "linear-probe"]
    if probes_left and candidates[best][0] != "linear-probe":
        # The probe is the default once every class has examples; another method
        # replaces it only when it is right on clearly more held-out examples (more
        # than one binomial standard error), not on a tie or on noise.
        probe_best = max(probes_left, key=lambda i: (accuracy[i], -losses[i], -i))
        margin = max(_standard_error(accuracy[probe_best], len(labels)), 1.0 / len(labels))
        if accuracy[best] <= accuracy[probe_best] + margin:
            best = probe_best
    method, params = candidates[best]
    temperature = temperatures[best]
    ece = expected_calibration_error(probabilities(out_of_fold[best], temperature), labels)
    summary: dict[str, float] = {}
    for i, (name, _) in enumerate(candidates):
        summary[name] = max(summary.get(name, 0.0), accuracy[i])
    correct = round(accuracy[best] * len(labels))
    chance = 1.0 / n_classes
    if binomtest(correct, len(labels), chance, alternative="greater").pvalue > 0.05:
        warnings_.append(
            f"cross-validation accuracy {accuracy[best]:.2f} on {len(labels)} examples is not "
            f"clearly above chance ({chance:.2f}): answer more review items before trusting "
            "the labels"
        )
    model = ScenarioClassifier(
        method,
        class_names,
        text_vectors,
        temperature,
        zs_t,
        params=dict(params),
        examples=len(labels),
        cv_accuracy=summary,
        ece=ece,
        warnings=warnings_,
        cv_recall={
            name: float((predicted[best][labels == c] == c).mean())
            for c, name in enumerate(class_names)
        },
    )
    if method == "tip-adapter":
        model.keys, model.key_labels = concept, labels
    elif method == "linear-probe":
        model.probe = _fit_probe(vectors, labels, params["C"])
        model.backbone_dim = backbone_dim
    return model


def _standard_error(accuracy: float, n: int) -> float:
    return float(np.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / n))


def _constant_on_examples(
    model: ScenarioClassifier, vectors: np.ndarray, labels: np.ndarray
) -> list[str]:
    """A warning when a model fitted on examples of several classes names only one of them."""
    # Only a probe on backbone features reads the columns after the concept vector.
    predicted = model.predict_proba(vectors[:, : model.input_dim]).argmax(axis=1)
    if len(np.unique(labels)) > 1 and len(np.unique(predicted)) == 1:
        return [
            f"the classifier gives its own {len(labels)} examples one class "
            f"({model.class_names[int(predicted[0])]!r}): it does not separate the classes"
        ]
    return []


DEGENERATE_SHARE = 0.95  # one class for at least this share of the labeled items is suspect
DEGENERATE_MIN_ITEMS = 10  # fewer items than this may well all be one class


def one_class_warning(
    predicted_counts: np.ndarray, class_names: tuple[str, ...], *, examples: int
) -> str | None:
    """A loud warning when labeling gave (nearly) every item the same class.

    A scenario exists to tell classes apart; when one class takes at least
    ``DEGENERATE_SHARE`` of ``DEGENERATE_MIN_ITEMS`` or more items, the classifier
    is more likely constant than the archive is. It is a warning, not a refusal:
    a quiet archive can be all "clear".
    """
    total = int(predicted_counts.sum())
    if total < DEGENERATE_MIN_ITEMS:
        return None
    top = int(np.argmax(predicted_counts))
    share = float(predicted_counts[top]) / total
    if share < DEGENERATE_SHARE:
        return None
    basis = f"{examples} example(s)" if examples else "the prompts alone (no examples)"
    return (
        f"{share:.0%} of {total} items were labeled {class_names[top]!r} by a classifier "
        f"fitted on {basis}: it may be giving every item one class. Check a few in the "
        "review queue and answer some of each class, then label again with --relabel"
    )
