"""numpy references for the evaluation metrics of train/metrics.h (read by tests/torch/test_metrics_torch.cpp).

Every formula is written out here in numpy, independently of the C++ code: the confusion matrix by np.add.at,
precision / recall / F1 per class as sklearn's precision_recall_fscore_support(zero_division=0) defines them
(F1 as 2PR / (P + R)), macro and support-weighted averages, accuracy, top-k by a stable argsort, regression MSE /
MAE / RMSE, CCC with population moments, the public CAGE code's CCC (np.cov, ddof = 1, over np.var, ddof = 0),
Pearson r by np.corrcoef, and the share of |error| <= e over a grid of e.

Ops (all tensors float64 or int64):
  metrics_classification  in.y_true, in.y_pred, in.scores (N x K) -> per-class arrays, averages, confusion, top-k
  metrics_regression      in.truth, in.pred, in.thresholds -> mse, mae, rmse, ccc, ccc_public, pearson, within
  metrics_affect          a whole AffectNet-style evaluation (classes + valence/arousal) -> the report's numbers
  metrics_emotic          multi-label categories + V/A/D on [-1, 1] and on the raw 1..10 scale
Degenerate cases follow metrics.h: CCC = 1 when var_t + var_p + dmean^2 = 0, Pearson r = 0 when a variance is 0.

When scikit-learn is installed (Debian's python3-sklearn), the numpy formulas are checked against sklearn's own
functions as they are generated, a second independent implementation; without it that check is skipped.
"""
import numpy as np
import torch

import refio

try:
    import sklearn.metrics as skm
except ImportError:  # optional: the numpy formulas alone define the references
    skm = None

AFFECTNET8 = ["Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger", "Contempt"]


def _t(x, dtype=np.float64):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=dtype)))


def _i(x):
    return _t(x, np.int64)


# ------------------------------------------------------------------------------------------ classification

def classification(y_true, y_pred, k):
    conf = np.zeros((k, k), dtype=np.int64)
    np.add.at(conf, (y_true, y_pred), 1)
    tp = np.diag(conf).astype(np.float64)
    support = conf.sum(axis=1)
    predicted = conf.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    pr = precision + recall
    f1 = np.divide(2 * precision * recall, pr, out=np.zeros(k), where=pr > 0)
    w = support / support.sum()
    return {
        "accuracy": np.mean(y_true == y_pred),
        "precision": precision, "recall": recall, "f1": f1, "support": support, "predicted": predicted,
        "confusion": conf,
        "precision_macro": precision.mean(), "recall_macro": recall.mean(), "f1_macro": f1.mean(),
        "precision_weighted": np.dot(precision, w), "recall_weighted": np.dot(recall, w),
        "f1_weighted": np.dot(f1, w),
    }


def ranking(scores):
    """Classes by descending score, ties to the lower index (a stable sort of the negated scores)."""
    return np.argsort(-scores, axis=1, kind="stable")


def top_k_accuracy(y_true, scores, k):
    top = ranking(scores)[:, :k]
    return np.mean((top == y_true[:, None]).any(axis=1))


def multilabel_top_k(targets, scores, k):
    top = ranking(scores)[:, :k]
    hits = np.take_along_axis(targets, top, axis=1).sum(axis=1)
    return np.mean(hits > 0), np.mean(hits / k)


# ---------------------------------------------------------------------------------------------- regression

def regression(t, p):
    e = p - t
    mt, mp = t.mean(), p.mean()
    vt, vp = np.var(t), np.var(p)
    cov = np.mean((t - mt) * (p - mp))
    den = vt + vp + (mt - mp) ** 2
    r = {
        "mse": np.mean(e ** 2), "mae": np.mean(np.abs(e)), "rmse": np.sqrt(np.mean(e ** 2)),
        "ccc": 2 * cov / den if den > 0 else 1.0,
        "pearson": np.corrcoef(t, p)[0, 1] if vt > 0 and vp > 0 else 0.0,
        "mean_true": mt, "mean_pred": mp, "std_true": np.std(t), "std_pred": np.std(p),
    }
    # The public CAGE evaluation's formula, verbatim in spirit: sample covariance over population variances.
    r["ccc_public"] = 2 * np.cov(t, p)[0, 1] / den if len(t) >= 2 and den > 0 else np.nan
    return r


def within(t, p, thresholds):
    return np.mean(np.abs(p - t)[:, None] <= thresholds[None, :], axis=0)


def thresholds_grid(count=101):
    return np.array([i / (count - 1) for i in range(count)])


def _save_regression(tensors, prefix, r):
    for key in ("mse", "mae", "rmse", "ccc", "ccc_public", "pearson", "mean_true", "mean_pred", "std_true",
                "std_pred"):
        tensors[f"{prefix}.{key}"] = _t(r[key])


# ------------------------------------------------------------------------------------------------- cases

def _sklearn_check(c, y_true, y_pred, scores, k, ks):
    labels = list(range(k))
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    close(c["precision"], p), close(c["recall"], r), close(c["f1"], f)
    np.testing.assert_array_equal(c["support"], s)
    for avg in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        close(c[f"precision_{avg}"], p), close(c[f"recall_{avg}"], r), close(c[f"f1_{avg}"], f)
    np.testing.assert_array_equal(c["confusion"], skm.confusion_matrix(y_true, y_pred, labels=labels))
    close(c["accuracy"], skm.accuracy_score(y_true, y_pred))
    for kk in ks:
        if kk < k:  # sklearn warns and returns 1 for k >= K
            close(top_k_accuracy(y_true, scores, kk), skm.top_k_accuracy_score(y_true, scores, k=kk, labels=labels))


def _classification_case(out_dir, name, y_true, y_pred, scores, k, ks=(1, 2, 3)):
    c = classification(y_true, y_pred, k)
    if skm is not None:
        _sklearn_check(c, y_true, y_pred, scores, k, ks)
    tensors = {"in.y_true": _i(y_true), "in.y_pred": _i(y_pred), "in.scores": _t(scores)}
    for key, v in c.items():
        tensors[f"out.{key}"] = _i(v) if key in ("support", "predicted", "confusion") else _t(v)
    tensors["out.argmax"] = _i(np.argmax(scores, axis=1))  # first maximum: the lower index on ties
    tensors["out.top_k"] = _t([top_k_accuracy(y_true, scores, kk) for kk in ks])
    refio.save(out_dir, "metrics_classification", name, tensors, {"num_classes": k, "top_k": list(ks)})


def _classifications(out_dir, rng):
    # K = 8 where class 5 is never predicted (precision's zero division) and class 7 never occurs (recall's).
    n, k = 600, 8
    y_true = rng.integers(0, k - 1, n)
    y_pred = np.where(rng.random(n) < 0.55, y_true, rng.integers(0, k, n))
    y_pred[y_pred == 5] = 3
    _classification_case(out_dir, "k8_empty_predicted", y_true, y_pred, rng.normal(size=(n, k)), k)
    # K = 7, moderately accurate.
    n, k = 500, 7
    y_true = rng.integers(0, k, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k, n))
    scores = rng.normal(size=(n, k))
    scores[np.arange(n), y_pred] += 1.5  # scores that mostly agree with the predictions
    _classification_case(out_dir, "k7", y_true, y_pred, scores, k)
    # AffectNet-8's training imbalance (Happy ~ 47 %, Contempt ~ 1 %), classifier biased to the frequent classes.
    n, k = 2000, 8
    freq = np.array([0.259, 0.468, 0.089, 0.049, 0.022, 0.013, 0.086, 0.014])
    y_true = rng.choice(k, size=n, p=freq / freq.sum())
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.choice(k, size=n, p=freq / freq.sum()))
    _classification_case(out_dir, "k8_imbalanced", y_true, y_pred, rng.normal(size=(n, k)), k)
    # Tiny: K = 3, 5 samples.
    y_true = np.array([0, 1, 2, 2, 1])
    y_pred = np.array([0, 2, 2, 1, 1])
    _classification_case(out_dir, "k3_tiny", y_true, y_pred, rng.normal(size=(5, 3)), 3)
    return 4


def _regression_case(out_dir, name, t, p):
    th = thresholds_grid()
    if skm is not None:
        r = regression(t, p)
        np.testing.assert_allclose([r["mse"], r["mae"]], [skm.mean_squared_error(t, p), skm.mean_absolute_error(t, p)],
                                   rtol=1e-14, atol=0)
    tensors = {"in.truth": _t(t), "in.pred": _t(p), "in.thresholds": _t(th)}
    _save_regression(tensors, "out", regression(t, p))
    tensors["out.within"] = _t(within(t, p, th))
    refio.save(out_dir, "metrics_regression", name, tensors, {"n": len(t)})


def _regressions(out_dir, rng):
    t = rng.uniform(-1, 1, 1000)
    _regression_case(out_dir, "n1000", t, 0.7 * t + rng.normal(0, 0.3, 1000) + 0.05)
    t = rng.uniform(-1, 1, 3)
    _regression_case(out_dir, "n3", t, t + rng.normal(0, 0.2, 3))
    t = rng.uniform(-1, 1, 50)
    _regression_case(out_dir, "constant_prediction", t, np.full(50, 0.25))
    t = rng.uniform(-1, 1, 200)
    _regression_case(out_dir, "anticorrelated_offset", t, -0.5 * t + 0.8 + rng.normal(0, 0.1, 200))
    return 4


def _affect(out_dir, rng):
    """A whole AffectNet-8 style evaluation: the numbers MetricsReport::to_json must hold."""
    n, k = 800, 8
    y_true = rng.integers(0, k, n)
    scores = rng.normal(size=(n, k))
    scores[np.arange(n), y_true] += 1.2
    y_pred = np.argmax(scores, axis=1)
    vt, at = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    vp = np.clip(0.8 * vt + rng.normal(0, 0.25, n), -1, 1)
    ap = 0.6 * at + rng.normal(0, 0.3, n)
    th = thresholds_grid()
    tensors = {"in.y_true": _i(y_true), "in.scores": _t(scores), "in.val_true": _t(vt), "in.val_pred": _t(vp),
               "in.aro_true": _t(at), "in.aro_pred": _t(ap)}
    c = classification(y_true, y_pred, k)
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted",
                "f1_weighted"):
        tensors[f"out.{key}"] = _t(c[key])
    tensors["out.f1"] = _t(c["f1"])
    tensors["out.confusion"] = _i(c["confusion"])
    tensors["out.top_2"] = _t(top_k_accuracy(y_true, scores, 2))
    _save_regression(tensors, "out.valence", regression(vt, vp))
    _save_regression(tensors, "out.arousal", regression(at, ap))
    _save_regression(tensors, "out.pooled", regression(np.concatenate([vt, at]), np.concatenate([vp, ap])))
    tensors["out.within.valence"] = _t(within(vt, vp, th))
    tensors["out.within.arousal"] = _t(within(at, ap, th))
    refio.save(out_dir, "metrics_affect", "affectnet8", tensors, {"num_classes": k, "class_names": AFFECTNET8})
    return 1


def _emotic(out_dir, rng):
    """Multi-label top-k on 26 categories, V/A/D regression on [-1, 1] and on the raw 1..10 scale."""
    n, c = 400, 26
    freq = rng.uniform(0.02, 0.3, c)
    freq[11] = 0.7  # Engagement, present in most EMOTIC samples
    targets = (rng.random((n, c)) < freq).astype(np.int64)
    empty = targets.sum(axis=1) == 0
    targets[empty, rng.integers(0, c, empty.sum())] = 1
    targets[0] = 0  # one sample without any category: never a hit
    scores = rng.normal(size=(n, c)) + 0.8 * targets
    tensors = {"in.targets": _i(targets), "in.scores": _t(scores)}
    for k in (1, 3, 5):
        any_hit, prec = multilabel_top_k(targets, scores, k)
        tensors[f"out.top{k}.any_hit"] = _t(any_hit)
        tensors[f"out.top{k}.precision_at_k"] = _t(prec)
    for dim in ("valence", "arousal", "dominance"):
        raw_true = rng.integers(1, 11, n).astype(np.float64)  # EMOTIC's integer ratings
        scaled_true = (2 * raw_true - 11) / 9
        scaled_pred = np.clip(0.5 * scaled_true + rng.normal(0, 0.3, n), -1.2, 1.2)
        raw_pred = (9 * scaled_pred + 11) / 2
        tensors[f"in.{dim}_true"] = _t(scaled_true)
        tensors[f"in.{dim}_pred"] = _t(scaled_pred)
        _save_regression(tensors, f"out.{dim}", regression(scaled_true, scaled_pred))
        _save_regression(tensors, f"out.raw.{dim}", regression(raw_true, raw_pred))
    refio.save(out_dir, "metrics_emotic", "emotic26", tensors, {"num_categories": c})
    return 1


def generate(out_dir):
    rng = np.random.default_rng(20240707)
    n = _classifications(out_dir, rng)
    n += _regressions(out_dir, rng)
    n += _affect(out_dir, rng)
    n += _emotic(out_dir, rng)
    return n
