#!/usr/bin/python3
"""Practitioner's baselines with scikit-learn (Debian python3-sklearn 1.2), the reference Ember's tabular baselines
are held to: TF-IDF (word 1-2-grams) logistic regression with C chosen on validation, and histogram gradient boosting
on the structured columns.

  /usr/bin/python3 bench/reference/tabular_baselines.py fine-foods [../shared/data/fine-foods]
  /usr/bin/python3 bench/reference/tabular_baselines.py csv FILE.csv --target COLUMN [--text a,b] [--seed 1]

fine-foods: train.csv.gz (4,000 reviews) / test.csv.gz (1,000); 20% of train (seeded) is the validation split on
which C (and the n-gram setting) is chosen; the chosen model is refit on all 4,000 training rows and scored on test.
"""
import argparse, gzip, io, json, sys, time
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, accuracy_score
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

def tfidf_logistic(train_text, y_train, val_text, y_val, test_text, y_test, grid=(0.1, 0.3, 1, 3, 10, 30, 100)):
    best = None
    for ngrams in [(1, 1), (1, 2)]:
        vec = TfidfVectorizer(ngram_range=ngrams, min_df=2, sublinear_tf=True)
        xtr = vec.fit_transform(train_text); xva = vec.transform(val_text)
        for c in grid:
            m = LogisticRegression(C=c, max_iter=5000).fit(xtr, y_train)
            auc = roc_auc_score(y_val, m.predict_proba(xva)[:, 1])
            if best is None or auc > best[0]: best = (auc, ngrams, c)
    auc, ngrams, c = best
    vec = TfidfVectorizer(ngram_range=ngrams, min_df=2, sublinear_tf=True)
    xall = vec.fit_transform(list(train_text) + list(val_text))
    m = LogisticRegression(C=c, max_iter=5000).fit(xall, np.concatenate([y_train, y_val]))
    p = m.predict_proba(vec.transform(test_text))[:, 1]
    return dict(model="tf-idf logistic", ngrams=list(ngrams), C=c, val_auc=auc, test_auc=roc_auc_score(y_test, p),
                test_accuracy=accuracy_score(y_test, p > 0.5))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what"); ap.add_argument("path", nargs="?", default="../shared/data/fine-foods")
    ap.add_argument("--target"); ap.add_argument("--text", default=""); ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t0 = time.time()
    if a.what == "fine-foods":
        train = pd.read_csv(a.path + "/train.csv.gz"); test = pd.read_csv(a.path + "/test.csv.gz")
        y = (train.score == "great").astype(int).values; yt = (test.score == "great").astype(int).values
        tr, va = train_test_split(np.arange(len(train)), test_size=0.2, random_state=a.seed, stratify=y)
        r = tfidf_logistic(train.review.values[tr], y[tr], train.review.values[va], y[va], test.review.values, yt)
        print(json.dumps(r))
    else:
        df = pd.read_csv(a.path)
        texts = [c for c in a.text.split(",") if c]
        y = pd.factorize(df[a.target], sort=True)[0]
        rest, te = train_test_split(np.arange(len(df)), test_size=0.2, random_state=a.seed, stratify=y)
        tr, va = train_test_split(rest, test_size=0.2, random_state=a.seed, stratify=y[rest])
        text = df[texts].fillna("").agg("\n".join, axis=1).values if texts else None
        if text is not None:
            print(json.dumps(tfidf_logistic(text[tr], y[tr], text[va], y[va], text[te], y[te])))
        structured = df.drop(columns=texts + [a.target])
        for c in structured.columns:
            if structured[c].dtype == object: structured[c] = pd.factorize(structured[c])[0]
        x = structured.values.astype(float)
        m = HistGradientBoostingClassifier(random_state=a.seed).fit(x[rest], y[rest])
        p = m.predict_proba(x[te])[:, 1]
        print(json.dumps(dict(model="hist gradient boosting", test_auc=roc_auc_score(y[te], p), test_accuracy=accuracy_score(y[te], p > 0.5))))
    print(f"{time.time() - t0:.1f} s", file=sys.stderr)

main()
