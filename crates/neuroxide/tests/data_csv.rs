//! CSV reader: the committed real tables, options, and one test per error message.

use neuroxide::data::{
    read_csv, CsvOptions, Dataset, LabelEncoder, Normalizer, NormalizerKind, TargetColumns, Task,
};
use std::path::PathBuf;

fn repo_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name)
}

/// Writes `content` to a fresh file in a per-process temp directory.
fn temp_file(name: &str, content: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neuroxide-data-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// The error message of reading `content` with `options`.
fn error_of(name: &str, content: &[u8], options: &CsvOptions) -> (PathBuf, String) {
    let path = temp_file(name, content);
    let err = read_csv(&path, options).expect_err("expected an error");
    (path.clone(), err.to_string())
}

#[test]
fn iris_real_table() {
    let d = read_csv(repo_data("iris.csv"), &CsvOptions::default()).unwrap();
    assert_eq!(d.features.shape(), [150, 4]);
    assert_eq!(d.targets.shape(), [150, 1]);
    assert_eq!(
        d.feature_names,
        ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    );
    assert_eq!(d.target_names, ["species"]);
    assert_eq!(d.task, Some(Task::Classification));
    let enc = d.label_encoder.as_ref().unwrap();
    assert_eq!(enc.classes(), ["setosa", "versicolor", "virginica"]);
    assert_eq!(d.num_classes(), Some(3));
    assert_eq!(d.features.row(0), [5.1, 3.5, 1.4, 0.2]);
    assert_eq!(d.features.row(149), [5.9, 3.0, 5.1, 1.8]);
    let y = d.targets.ids().unwrap();
    assert_eq!((y[0], y[50], y[100], y[149]), (0, 1, 2, 2));
    for class in 0..3 {
        assert_eq!(y.iter().filter(|&&v| v == class).count(), 50);
    }
}

#[test]
fn diabetes_real_table_is_regression() {
    let d = read_csv(repo_data("diabetes.csv"), &CsvOptions::default()).unwrap();
    assert_eq!(d.features.shape(), [442, 10]);
    assert_eq!(d.targets.shape(), [442, 1]);
    assert_eq!(d.task, Some(Task::Regression));
    assert!(d.label_encoder.is_none());
    assert_eq!(
        d.feature_names,
        ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    );
    assert_eq!(d.target_names, ["target"]);
    assert_eq!(
        d.features.row(0),
        [59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0]
    );
    assert_eq!(&d.targets.data()[..3], [151.0, 75.0, 141.0]);
}

#[test]
fn normalizer_fitted_on_training_split_only() {
    let d = read_csv(repo_data("diabetes.csv"), &CsvOptions::default()).unwrap();
    let ds = d.into_dataset().unwrap();
    let (mut train, mut val) = ds.split(0.2, 7).unwrap();
    assert_eq!((train.len(), val.len()), (354, 88));
    let norm = Normalizer::fit(NormalizerKind::Standardize, &train.x).unwrap();
    norm.transform(&mut train.x).unwrap();
    norm.transform(&mut val.x).unwrap();
    for c in 0..10 {
        let col: Vec<f64> = (0..train.len())
            .map(|r| f64::from(train.x.row(r)[c]))
            .collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
        assert!(mean.abs() < 1e-5, "column {c} mean {mean}");
        assert!((var - 1.0).abs() < 1e-4, "column {c} variance {var}");
    }
    // the validation split used the training statistics, so it is not exactly centred
    let val_mean: f64 = (0..val.len())
        .map(|r| f64::from(val.x.row(r)[2]))
        .sum::<f64>()
        / val.len() as f64;
    assert!(val_mean.abs() > 1e-4);
}

#[test]
fn headerless_numeric_file_with_target_index_and_auto_task() {
    let path = temp_file("noheader.csv", b"1,0.5,2.5\n0,1.5,3.5\n2,2.5,4.5\n");
    let opts = CsvOptions::new().target(TargetColumns::index(0));
    let d = read_csv(&path, &opts).unwrap();
    assert_eq!(d.feature_names, ["column_2", "column_3"]);
    assert_eq!(d.target_names, ["column_1"]);
    assert_eq!(d.task, Some(Task::Classification));
    assert_eq!(d.targets.ids().unwrap(), [1, 0, 2]);
    assert_eq!(d.features.data(), [0.5, 2.5, 1.5, 3.5, 2.5, 4.5]);

    // fractional targets → regression
    let path = temp_file("reg.csv", b"x,y\n1,0.5\n2,1.5\n");
    let d = read_csv(&path, &CsvOptions::default()).unwrap();
    assert_eq!(d.task, Some(Task::Regression));
    assert_eq!(d.targets.data(), [0.5, 1.5]);

    // 21 distinct integers → regression; 20 → classification
    let rows = |k: usize| -> String {
        let mut s = String::from("x,y\n");
        for i in 0..k {
            s.push_str(&format!("{i},{}\n", i * 10));
        }
        s
    };
    let p21 = temp_file("int21.csv", rows(21).as_bytes());
    assert_eq!(
        read_csv(&p21, &CsvOptions::default()).unwrap().task,
        Some(Task::Regression)
    );
    let p20 = temp_file("int20.csv", rows(20).as_bytes());
    let d = read_csv(&p20, &CsvOptions::default()).unwrap();
    assert_eq!(d.task, Some(Task::Classification));
    assert_eq!(d.targets.ids().unwrap()[19], 19);
    // forcing regression keeps the raw values
    let d = read_csv(&p20, &CsvOptions::new().task(Task::Regression)).unwrap();
    assert_eq!(d.targets.data()[19], 190.0);
}

#[test]
fn delimiter_names_multiple_targets_and_no_targets() {
    let path = temp_file("semi.csv", b"a;b;c;d\n1;2;3;4\n5;6;7;8\n");
    let opts = CsvOptions::new()
        .delimiter(b';')
        .target(TargetColumns::Names(vec!["d".into(), "b".into()]));
    let d = read_csv(&path, &opts).unwrap();
    assert_eq!(d.task, Some(Task::Regression));
    assert_eq!(d.feature_names, ["a", "c"]);
    assert_eq!(d.target_names, ["d", "b"]);
    assert_eq!(d.features.data(), [1.0, 3.0, 5.0, 7.0]);
    assert_eq!(d.targets.data(), [4.0, 2.0, 8.0, 6.0]);

    let d = read_csv(&path, &opts.clone().target(TargetColumns::None)).unwrap();
    assert_eq!(d.task, None);
    assert_eq!(d.features.shape(), [2, 4]);
    assert_eq!(d.targets.shape(), [2, 0]);
    let ds: Dataset = d.into_dataset().unwrap();
    assert_eq!(ds.len(), 2);
}

#[test]
fn reuses_a_saved_label_encoder() {
    let enc = LabelEncoder::fit(["cat", "dog", "emu"]);
    let json = serde_json::to_string(&enc).unwrap();
    let enc: LabelEncoder = serde_json::from_str(&json).unwrap();
    let path = temp_file("test_split.csv", b"w,animal\n1,emu\n2,emu\n");
    let d = read_csv(&path, &CsvOptions::new().label_encoder(enc)).unwrap();
    assert_eq!(d.targets.ids().unwrap(), [2, 2]);
    assert_eq!(d.num_classes(), Some(3));
}

#[test]
fn error_malformed_row_invalid_utf8() {
    let (p, msg) = error_of(
        "utf8.csv",
        b"a,b,c\n1,2,x\n3,7\xff\xfe,y\n",
        &CsvOptions::default(),
    );
    assert_eq!(
        msg,
        format!(
            "{}, line 3, column 2: malformed row: field is not valid UTF-8 (bad byte after 1 \
             valid bytes)",
            p.display()
        )
    );
}

#[test]
fn error_ragged_row() {
    let (p, msg) = error_of("ragged.csv", b"a,b,c\n1,2,x\n3,4\n", &CsvOptions::default());
    assert_eq!(
        msg,
        format!(
            "{}, line 3: ragged row: expected 3 fields (as in line 1), got 2",
            p.display()
        )
    );
}

#[test]
fn error_empty_file() {
    let (p, msg) = error_of("empty.csv", b"", &CsvOptions::default());
    assert_eq!(msg, format!("{}: the file is empty (no rows)", p.display()));
}

#[test]
fn error_header_only() {
    let (p, msg) = error_of("header.csv", b"a,b,label\n", &CsvOptions::default());
    assert_eq!(
        msg,
        format!(
            "{}, line 1: the file has a header row ('a', 'b', 'label') but no data rows",
            p.display()
        )
    );
}

#[test]
fn error_non_numeric_feature_is_quoted() {
    let (p, msg) = error_of(
        "text.csv",
        b"a,b,label\n1,2,x\n3,four,y\n",
        &CsvOptions::default(),
    );
    assert_eq!(
        msg,
        format!(
            "{}, line 3, column 2: non-numeric value \"four\" in feature column 'b' (features \
             must be numbers; encode categories first)",
            p.display()
        )
    );
    // a header row read as data (forced) fails on its first field
    let (p, msg) = error_of(
        "forced.csv",
        b"a,b,label\n1,2,x\n",
        &CsvOptions::new().has_header(false),
    );
    assert_eq!(
        msg,
        format!(
            "{}, line 1, column 1: non-numeric value \"a\" in feature column 'column_1' \
             (features must be numbers; encode categories first)",
            p.display()
        )
    );
}

#[test]
fn error_non_numeric_regression_target() {
    let (p, msg) = error_of(
        "regtext.csv",
        b"a,y\n1,2.5\n3,high\n",
        &CsvOptions::new().task(Task::Regression),
    );
    assert_eq!(
        msg,
        format!(
            "{}, line 3, column 2: non-numeric value \"high\" in target column 'y' (regression \
             targets must be numbers)",
            p.display()
        )
    );
}

#[test]
fn error_non_finite_value() {
    let (p, msg) = error_of(
        "inf.csv",
        b"a,b,y\n1,2,0\n3,inf,1\n",
        &CsvOptions::default(),
    );
    assert_eq!(
        msg,
        format!(
            "{}, line 3, column 2: value \"inf\" in feature column 'b' is not finite",
            p.display()
        )
    );
}

#[test]
fn error_unknown_target_column_lists_columns() {
    let (p, msg) = error_of(
        "unknown.csv",
        b"a,b,label\n1,2,x\n3,4,y\n",
        &CsvOptions::new().target(TargetColumns::name("species")),
    );
    assert_eq!(
        msg,
        format!(
            "{}, line 1: unknown target column 'species'; available columns: 'a', 'b', 'label'",
            p.display()
        )
    );
    let (p, msg) = error_of(
        "badindex.csv",
        b"a,b,label\n1,2,x\n3,4,y\n",
        &CsvOptions::new().target(TargetColumns::index(3)),
    );
    assert_eq!(
        msg,
        format!(
            "{}: target column index 3 (0-based) is out of range: the file has 3 columns: 'a', \
             'b', 'label'",
            p.display()
        )
    );
}

#[test]
fn error_single_class() {
    let (p, msg) = error_of(
        "oneclass.csv",
        b"a,b,label\n1,2,x\n3,4,x\n5,6,x\n",
        &CsvOptions::default(),
    );
    assert_eq!(
        msg,
        format!(
            "{}: classification target 'label' has a single class (\"x\") in all 3 rows; it \
             needs at least 2",
            p.display()
        )
    );
}

#[test]
fn error_missing_values() {
    let (p, msg) = error_of(
        "missing.csv",
        b"a,b,label\n1,2,x\n3,,y\n",
        &CsvOptions::default(),
    );
    assert_eq!(
        msg,
        format!(
            "{}, line 3, column 2: missing value (empty field) in column 'b'; fill or drop \
             incomplete rows",
            p.display()
        )
    );
    let (p, msg) = error_of(
        "missing_na.csv",
        b"a,b,label\n1,2,x\n3,4,y\n5,6,NA\n",
        &CsvOptions::default(),
    );
    assert_eq!(
        msg,
        format!(
            "{}, line 4, column 3: missing value (\"NA\") in column 'label'; fill or drop \
             incomplete rows",
            p.display()
        )
    );
}

#[test]
fn error_unknown_label_with_saved_encoder() {
    let enc = LabelEncoder::fit(["cat", "dog"]);
    let (p, msg) = error_of(
        "newlabel.csv",
        b"w,animal\n1,dog\n2,emu\n",
        &CsvOptions::new().label_encoder(enc),
    );
    assert_eq!(
        msg,
        format!(
            "{}, line 3, column 2: unknown class label \"emu\" in column 'animal'; known \
             classes: 'cat', 'dog'",
            p.display()
        )
    );
}

#[test]
fn error_classification_with_two_targets_and_no_features() {
    let (p, msg) = error_of(
        "twotargets.csv",
        b"a,b,c\n1,2,3\n4,5,6\n",
        &CsvOptions::new()
            .target(TargetColumns::Indices(vec![1, 2]))
            .task(Task::Classification),
    );
    assert_eq!(
        msg,
        format!(
            "{}: classification needs exactly one target column, got 2: 'b', 'c'",
            p.display()
        )
    );
    let (p, msg) = error_of("onecol.csv", b"y\n1\n2\n", &CsvOptions::default());
    assert_eq!(
        msg,
        format!(
            "{}: no feature columns left: the file has only the column(s) 'y', all of them targets",
            p.display()
        )
    );
}

#[test]
fn error_missing_file() {
    let path = std::env::temp_dir().join("neuroxide-no-such-file.csv");
    let msg = read_csv(&path, &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with(&format!("{}: ", path.display())),
        "message was: {msg}"
    );
}
