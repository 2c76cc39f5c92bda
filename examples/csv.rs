//! Classification on a CSV table (Iris by default), written with the public API as a user would:
//! read the table (the target column's strings become class ids), split off a stratified 20%
//! validation set, standardise the features with statistics of the training split only, build an
//! MLP (ReLU hidden layers 64 and 32), compile with Adam(1e-2) and cross-entropy, fit with early
//! stopping on the validation loss (best weights restored), evaluate, print the confusion matrix
//! and save the model with its preprocessing. `neuroxide train csv` does the same with more
//! options (regression, header and delimiter detection).
//!
//! `cargo run --release --example csv [-- --file data/iris.csv --target species --save /tmp/iris]`

use neuroxide::data::{read_csv, CsvOptions, Dataset, Normalizer, NormalizerKind, TargetColumns};
use neuroxide::io::{save, Preprocessing, SaveOptions};
use neuroxide::layers::Dense;
use neuroxide::train::{
    evaluate, fit_dataset, stratified_split, ConfusionMatrix, EarlyStopping, FitOptions, Metric,
    Verbosity,
};
use neuroxide::{optim, Error, Loss, Result, Sequential};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let file = arg("--file").unwrap_or_else(|| "data/iris.csv".into());
    let target = arg("--target").unwrap_or_else(|| "species".into());
    let seed = 1;

    // Load and split.
    let options = CsvOptions::default().target(TargetColumns::name(&target));
    let table = read_csv(&file, &options)?;
    let classes = table
        .num_classes()
        .ok_or_else(|| Error::invalid(format!("{file}: column {target} is not a class label")))?;
    let data = Dataset::new(table.features.clone(), table.targets.clone())?;
    let (mut train, mut val) = stratified_split(&data, 0.2, seed)?;
    let normalizer = Normalizer::fit(NormalizerKind::Standardize, &train.x)?;
    normalizer.transform(&mut train.x)?;
    normalizer.transform(&mut val.x)?;

    // Build and compile.
    let mut model = Sequential::new([table.features.row_len()])
        .add(Dense::new(64).relu())
        .add(Dense::new(32).relu())
        .add(Dense::new(classes))
        .build(seed)?;
    model.compile(optim::adam(1e-2), Loss::cross_entropy())?;
    print!("{}", model.summary());

    // Fit with early stopping.
    let history = fit_dataset(
        &mut model,
        &train,
        FitOptions::new()
            .epochs(200)
            .batch_size(32)
            .seed(seed)
            .validation_data(val.clone())
            .verbose(Verbosity::Silent)
            .callback(
                EarlyStopping::new("val_loss")
                    .patience(20)
                    .restore_best_weights(true),
            ),
    )?;

    // Evaluate.
    let result = evaluate(&mut model, &val, 32, &[Metric::Accuracy])?;
    let predictions = result
        .predictions
        .as_ref()
        .ok_or_else(|| Error::invalid("evaluation returned no predictions"))?;
    let names = table
        .label_encoder
        .as_ref()
        .map(|e| e.classes().to_vec())
        .unwrap_or_default();
    println!(
        "{} epochs; validation loss {:.4}, accuracy {:.2}% on {} rows",
        history.len(),
        result.loss,
        100.0 * result.accuracy.unwrap_or(f64::NAN),
        val.len()
    );
    println!(
        "{}",
        ConfusionMatrix::from_predictions(predictions, &val.y, &names)?
    );

    // Save the model with what a later `neuroxide predict` needs to read raw rows.
    if let Some(dir) = arg("--save") {
        let preprocessing = Preprocessing {
            task: table.task,
            feature_names: table.feature_names.clone(),
            target_names: table.target_names.clone(),
            label_encoder: table.label_encoder.clone(),
            normalizer: Some(normalizer),
            target_normalizer: None,
        };
        let options = SaveOptions {
            preprocessing: Some(preprocessing),
            epochs_completed: Some(history.len()),
            include_optimizer: true,
        };
        save(&mut model, &dir, &options)?;
        println!("saved to {dir}");
    }
    Ok(())
}
