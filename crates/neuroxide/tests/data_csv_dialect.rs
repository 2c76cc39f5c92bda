//! CSV inputs that used to be read wrongly without a word: an unterminated quote, a typo in a
//! numeric target, a numbered header row, duplicate column names, semicolon and tab files. Each
//! is now either read right (with a note saying what was detected) or a located error.

use neuroxide::data::{read_csv, read_csv_from, CsvOptions, TargetColumns, Task};
use std::path::Path;

fn read(text: &str, options: &CsvOptions) -> neuroxide::Result<neuroxide::data::CsvData> {
    read_csv_from(text.as_bytes(), "t.csv", options)
}

fn err(text: &str, options: &CsvOptions) -> String {
    match read(text, options) {
        Ok(d) => panic!("expected an error, got {:?}", d.features.shape()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unterminated_quote_is_a_located_error_not_a_truncated_table() {
    let text = "a,b,label\n1,2,x\n3,4,\"y\n5,6,z\n7,8,x\n";
    assert_eq!(
        err(text, &CsvOptions::new()),
        "t.csv, line 3, column 3: unterminated quoted field: the quote opened here is never \
         closed, so the rest of the file would be read as one value; close the quote or escape \
         it as \"\""
    );
    // Quoted fields that close (with an escaped quote and a newline inside) still read.
    let ok = read(
        "a,b,label\n1,2,\"x \"\"q\"\"\"\n3,4,\"two\nlines\"\n5,6,x\n",
        &CsvOptions::new(),
    )
    .unwrap();
    assert_eq!(ok.features.shape(), [3, 2]);
    assert_eq!(ok.num_classes(), Some(3));
}

#[test]
fn a_typo_in_a_numeric_target_is_an_error_not_a_classification() {
    let mut text = String::from("x,y\n");
    for i in 0..40 {
        text.push_str(&format!("{i},{}.5\n", i * 3));
    }
    text.push_str("41,12.O\n"); // letter O for zero
    assert_eq!(
        err(&text, &CsvOptions::new()),
        "t.csv, line 42, column 2: target column 'y' holds 40 numbers but also 1 non-numeric \
         value(s), the first \"12.O\" here: fix the value, or pass --task classification if the \
         values are class labels"
    );
    // An explicit task wins: regression names the bad value, classification accepts it.
    assert!(err(&text, &CsvOptions::new().task(Task::Regression))
        .starts_with("t.csv, line 42, column 2: non-numeric value \"12.O\" in target column 'y'"));
    let c = read(&text, &CsvOptions::new().task(Task::Classification)).unwrap();
    assert_eq!(
        (c.task, c.num_classes()),
        (Some(Task::Classification), Some(41))
    );
    assert!(
        c.notes.iter().all(|n| !n.starts_with("task:")),
        "{:?}",
        c.notes
    );
}

#[test]
fn automatic_decisions_are_explained() {
    let r = read("x,y\n1,0.5\n2,1.5\n3,2.25\n", &CsvOptions::new()).unwrap();
    assert_eq!(r.task, Some(Task::Regression));
    assert_eq!(
        r.notes,
        [
            "header row: yes (auto: column 1 is \"x\" in line 1 but a number below; use \
             --header no to read it as data)",
            "task: regression (auto: target 'y' holds non-integer numbers; use --task \
             classification to override)"
        ]
    );
    let c = read("x,y\n1,0\n2,1\n3,1\n", &CsvOptions::new()).unwrap();
    assert_eq!(
        c.notes[1],
        "task: classification (auto: target 'y' holds 2 distinct integers, at most 20; use \
         --task regression to override)"
    );
    let given = read(
        "x,y\n1,0\n2,1\n",
        &CsvOptions::new().has_header(true).task(Task::Regression),
    )
    .unwrap();
    assert!(given.notes.is_empty(), "{:?}", given.notes);
}

#[test]
fn numbered_header_row_is_detected_and_can_be_forced() {
    let text = "0,1,2\n5.5,3.25,a\n6.5,2.75,b\n";
    let d = read(text, &CsvOptions::new()).unwrap();
    assert_eq!(d.features.shape(), [2, 2]);
    assert_eq!(d.feature_names, ["0", "1"]);
    assert_eq!(d.target_names, ["2"]);
    assert!(d.notes[0].starts_with("header row: yes (auto: line 1 numbers the columns 0..2"));
    // --header no reads it as data (here: one more class, "2").
    let forced = read(text, &CsvOptions::new().has_header(false)).unwrap();
    assert_eq!(forced.features.shape(), [3, 2]);
    assert_eq!(forced.num_classes(), Some(3));
}

#[test]
fn duplicate_column_names_are_an_error_naming_them() {
    assert_eq!(
        err("a,b,a,y,b\n1,2,3,4,5\n6,7,8,9,0\n", &CsvOptions::new()),
        "t.csv, line 1: duplicate column name(s) in the header: 'a' (columns 1, 3), 'b' \
         (columns 2, 5); rename them so that each column has its own name"
    );
    // Without a header the names are generated and cannot clash.
    let ok = read("1,2,3\n4,5,6\n", &CsvOptions::new().has_header(false)).unwrap();
    assert_eq!(ok.feature_names, ["column_1", "column_2"]);
}

#[test]
fn semicolon_and_tab_files_are_sniffed() {
    for (d, name) in [(";", "';'"), ("\t", "'\\t' (tab)")] {
        let text = format!("a{d}b{d}y\n1,5{d}2{d}x\n3{d}4{d}z\n").replace("1,5", "\"1.5\"");
        let r = read(&text, &CsvOptions::new()).unwrap();
        assert_eq!(r.feature_names, ["a", "b"]);
        assert_eq!(r.features.data(), [1.5, 2.0, 3.0, 4.0]);
        assert_eq!(
            r.notes[0],
            format!(
                "delimiter {name} (auto: 3 columns on each of the first 3 lines; use \
                 --delimiter to override)"
            )
        );
    }
}

#[test]
fn a_wrong_explicit_delimiter_gets_a_hint() {
    assert_eq!(
        err("a;b;y\n1;2;x\n3;4;z\n", &CsvOptions::new().delimiter(b',')),
        "t.csv: no feature columns left: the file has only the column(s) 'column_1', all of them \
         targets (the file was split at ',', but its first line contains ';': pass --delimiter \
         ';')"
    );
}

#[test]
fn read_csv_names_the_file_and_header_targets_still_work() {
    let dir = std::env::temp_dir().join(format!("neuroxide-dialect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("semi.csv");
    std::fs::write(&p, "f1;f2;t\n1;2;3.5\n2;3;4.25\n4;1;0.5\n").unwrap();
    let d = read_csv(&p, &CsvOptions::new().target(TargetColumns::name("f1"))).unwrap();
    assert_eq!(d.feature_names, ["f2", "t"]);
    std::fs::write(&p, "f1,f2\n1,\"2\n").unwrap();
    let e = read_csv(&p, &CsvOptions::new()).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}, line 2, column 2: unterminated", p.display())),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
