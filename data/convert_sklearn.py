#!/usr/bin/env python3
"""Rebuild data/iris.csv and data/diabetes.csv from a scikit-learn wheel (stdlib only).

Usage:
    pip download --no-deps scikit-learn==1.9.1 -d /tmp/skl
    python3 data/convert_sklearn.py /tmp/skl/scikit_learn-1.9.1-*.whl data/

The wheel is a zip archive; the tables are read straight out of it, nothing is unpacked.

iris.csv in the wheel starts with a non-standard line "150,4,setosa,versicolor,virginica"
(row count, feature count, class names) followed by rows "f1,f2,f3,f4,label" with integer
labels. We write a standard header and replace each integer label by its class name.

diabetes_data_raw.csv.gz is whitespace-separated (age sex bmi bp s1..s6, unscaled values)
and diabetes_target.csv.gz holds one float per line (e.g. "1.510000000000000000e+02").
We join them row by row into one comma-separated table; integral targets are written as
integers. Feature tokens are copied verbatim so no value is rounded.
"""

import gzip
import io
import sys
import zipfile

DATA = "sklearn/datasets/data/"


def read_member(wheel, name):
    data = wheel.read(DATA + name)
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("ascii")


def convert_iris(wheel):
    lines = read_member(wheel, "iris.csv").strip().splitlines()
    first = lines[0].split(",")
    n_rows, n_features = int(first[0]), int(first[1])
    class_names = first[2:]
    assert n_features == 4 and class_names == ["setosa", "versicolor", "virginica"], first
    out = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    for line in lines[1:]:
        fields = line.split(",")
        assert len(fields) == 5, line
        out.append(",".join(fields[:4] + [class_names[int(fields[4])]]))
    assert len(out) - 1 == n_rows, (len(out) - 1, n_rows)
    return "\n".join(out) + "\n"


def convert_diabetes(wheel):
    rows = read_member(wheel, "diabetes_data_raw.csv.gz").strip().splitlines()
    targets = read_member(wheel, "diabetes_target.csv.gz").strip().splitlines()
    assert len(rows) == len(targets) == 442, (len(rows), len(targets))
    out = ["age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,target"]
    for row, target in zip(rows, targets):
        fields = row.split()
        assert len(fields) == 10, row
        t = float(target)
        out.append(",".join(fields + [str(int(t)) if t == int(t) else repr(t)]))
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    wheel_path, out_dir = sys.argv[1], sys.argv[2].rstrip("/")
    with zipfile.ZipFile(wheel_path) as wheel:
        for name, text in (("iris.csv", convert_iris(wheel)),
                           ("diabetes.csv", convert_diabetes(wheel))):
            with io.open(out_dir + "/" + name, "w", encoding="ascii", newline="\n") as f:
                f.write(text)
            print("wrote", out_dir + "/" + name, text.count("\n") - 1, "rows")


if __name__ == "__main__":
    main()
