#!/usr/bin/python3
"""scikit-learn reference values for Ember's classical models (Debian python3-sklearn 1.2, python3-scipy):

  /usr/bin/python3 gen_classical_fixtures.py

Writes classical/tfidf.json: TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True) fitted on 400 fine-food
reviews plus hand-written texts (accents, digits, underscores, CJK, apostrophes), its vocabulary and idf, and the CSR
rows of 40 texts it transforms; classical/logistic.json: LogisticRegression (newton-cg, tol 1e-12) coefficients on that
TF-IDF matrix (binary, C = 3 and C = 0.3) and on the iris data shipped with scikit-learn (multinomial, C = 1), with
predicted probabilities; classical/hgb.json: HistGradientBoostingClassifier / Regressor test scores on a structured
data set (the inputs are written too) for a tolerance check of Ember's histogram gradient boosting.
"""
import csv, gzip, io, json, os
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import roc_auc_score, mean_squared_error

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classical")
os.makedirs(here, exist_ok=True)
shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "data", "fine-foods", "train.csv.gz")
rows = list(csv.DictReader(io.TextIOWrapper(gzip.open(shared), encoding="utf-8")))[:400]
extra = ["Crème brûlée at café Zoë: naïve ÉCLAIRS!", "x_1 y_22 __init__ a b c 3.14 42 2024-12-07", "東京 東京タワー 日本語の文章",
         "don't can't won't it's isn't", "Ⅻ ½ ² ٣٤ digits", "Straße STRASSE straße"] * 2
texts = [r["review"] for r in rows] + extra
labels = [1 if r["score"] == "great" else 0 for r in rows] + [0, 1] * 6
vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
x = vec.fit_transform(texts)
probe = list(range(0, 400, 10)) + list(range(400, 412))
xp = x[probe]
json.dump(dict(texts=texts, labels=labels, vocabulary=vec.get_feature_names_out().tolist(), idf=vec.idf_.tolist(),
               probe=probe, indptr=xp.indptr.tolist(), indices=xp.indices.tolist(), data=xp.data.tolist()),
          open(os.path.join(here, "tfidf.json"), "w"), ensure_ascii=False)

out = dict(binary=[], iris=None)
for c in (3.0, 0.3):
    # newton-cg to 1e-12: the exact optimum (lbfgs at tol 1e-10 stops ~6e-5 short of it on this problem).
    m = LogisticRegression(C=c, tol=1e-12, max_iter=100000, solver="newton-cg").fit(x, labels)
    out["binary"].append(dict(C=c, coef=m.coef_[0].tolist(), intercept=float(m.intercept_[0]), proba=m.predict_proba(x[probe])[:, 1].tolist()))
iris = load_iris()
m = LogisticRegression(C=1.0, tol=1e-12, max_iter=100000, solver="newton-cg").fit(iris.data, iris.target)
out["iris"] = dict(x=iris.data.tolist(), y=iris.target.tolist(), C=1.0, coef=m.coef_.tolist(), intercept=m.intercept_.tolist(),
                   proba=m.predict_proba(iris.data).tolist())
json.dump(out, open(os.path.join(here, "logistic.json"), "w"))

# Structured data with interactions and noise (what trees are for): 2,000 training rows, 1,000 test rows.
rng = np.random.default_rng(3)
n = 3000
x = rng.normal(size=(n, 8))
x[:, 5] = rng.integers(0, 6, n)                       # a small integer-coded category
x[rng.random((n, 8)) < 0.05] = np.nan                 # 5% missing values
logit = np.nan_to_num(2 * x[:, 0] * (x[:, 1] > 0) - 1.5 * np.abs(x[:, 2]) + (x[:, 5] == 3) * 2 + np.sin(3 * x[:, 3]))
y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
target = np.nan_to_num(x[:, 0] ** 2 + 3 * (x[:, 4] > 0.5) + x[:, 5]) + rng.normal(scale=0.5, size=n)
clf = HistGradientBoostingClassifier(random_state=0).fit(x[:2000], y[:2000])
reg = HistGradientBoostingRegressor(random_state=0).fit(x[:2000], target[:2000])
json.dump(dict(x=np.where(np.isnan(x), None, x).tolist(), y=y.tolist(), target=target.tolist(), train=2000,
               classifier_auc=roc_auc_score(y[2000:], clf.predict_proba(x[2000:])[:, 1]),
               regressor_rmse=float(np.sqrt(mean_squared_error(target[2000:], reg.predict(x[2000:]))))),
          open(os.path.join(here, "hgb.json"), "w"))
print("tfidf vocabulary", len(vec.vocabulary_), "hgb auc", roc_auc_score(y[2000:], clf.predict_proba(x[2000:])[:, 1]),
      "rmse", np.sqrt(mean_squared_error(target[2000:], reg.predict(x[2000:]))))
