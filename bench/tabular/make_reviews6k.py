#!/usr/bin/python3
"""A 6,046-row table shaped like the one the outside check used (9 numeric columns, a subject, a body, a binary
label), built from the fine-food reviews in ../shared/data/fine-foods (train + test = 5,000 reviews, plus 1,046 of
them drawn again, seeded): length, words, exclamation marks, capitals ratio, digits, reviews of the same product,
sentences and two noise columns; subject = the first sentence, body = the rest; label = score.
The repeated reviews make the scores optimistic (a review can sit in a training and a test row): this table measures
cost, not accuracy.

  /usr/bin/python3 bench/tabular/make_reviews6k.py OUT.csv
"""
import csv, gzip, io, random, re, sys, os
random.seed(5)
here = os.path.dirname(os.path.abspath(__file__))
rows = []
for f in ["train", "test"]:
    rows += list(csv.DictReader(io.TextIOWrapper(gzip.open(os.path.join(here, "..", "..", "..", "shared", "data", "fine-foods", f + ".csv.gz")), encoding="utf-8")))
rows += [dict(r) for r in random.sample(rows, 1046)]
product_count = {}
for r in rows: product_count[r["product"]] = product_count.get(r["product"], 0) + 1
with open(sys.argv[1], "w", newline="") as out:
    w = csv.writer(out)
    w.writerow(["length", "words", "exclaims", "caps_ratio", "digits", "product_reviews", "sentences", "noise1", "noise2", "subject", "body", "label"])
    for r in rows:
        t = r["review"]
        parts = re.split(r"(?<=[.!?])\s+", t, 1)
        subject, body = parts[0][:120], parts[1] if len(parts) > 1 else t
        letters = [c for c in t if c.isalpha()]
        w.writerow([len(t), len(t.split()), t.count("!"), round(sum(c.isupper() for c in letters) / max(1, len(letters)), 4),
                    sum(c.isdigit() for c in t), product_count[r["product"]], len(re.findall(r"[.!?]", t)),
                    round(random.gauss(0, 1), 4), round(random.random() * 100, 2), subject, body, r["score"]])
print(len(rows), "rows")
