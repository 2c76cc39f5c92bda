//! `neuroxide`: train, evaluate and run models, validate the backends, benchmark.
//! One file per command family; this file only parses and dispatches.
//!
//! Output for people goes through `out!`/`outln!` (a closed pipe stops the output, not the
//! work), and no `unwrap`/`expect`/`panic!` outside tests: every bad input is an error message
//! and a non-zero exit.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[macro_use]
extern crate neuroxide;

mod bench;
mod evaluate;
mod launch;
mod plot;
mod predict;
mod train;
mod transformer;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "neuroxide", version, about = "Neuroxide deep-learning toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a reference example or a model on your data.
    Train(train::TrainArgs),
    /// Loss and metrics of a saved model on a labelled CSV file.
    Evaluate(evaluate::EvaluateArgs),
    /// Predictions of a saved model for a CSV file.
    Predict(predict::PredictArgs),
    /// Write the validation report from live runs on every available backend.
    Validate(validate::ValidateArgs),
    /// Run the benchmark workloads of bench/WORKLOADS.md.
    Bench(bench::BenchArgs),
    /// Generate text with a saved character model (`train transformer --save DIR`).
    Generate(transformer::GenerateArgs),
    /// Data-parallel training or benchmarking: one `train` or `bench` process per GPU
    /// (`launch --gpus N -- train …`).
    Launch(launch::LaunchArgs),
}

fn run(cli: Cli) -> neuroxide::Result<ExitCode> {
    match cli.command {
        Command::Train(a) => train::run(a).map(|()| ExitCode::SUCCESS),
        Command::Evaluate(a) => evaluate::run(a).map(|()| ExitCode::SUCCESS),
        Command::Predict(a) => predict::run(a).map(|()| ExitCode::SUCCESS),
        Command::Validate(a) => validate::run(a),
        Command::Bench(a) => bench::run(a).map(|()| ExitCode::SUCCESS),
        Command::Generate(a) => transformer::generate(a).map(|()| ExitCode::SUCCESS),
        Command::Launch(a) => launch::run(a).map(|()| ExitCode::SUCCESS),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => {
            // A rank of a data-parallel job that finished its work says goodbye, so its peers
            // do not take its exit for a death (after an error it does not: they stop too).
            neuroxide::distributed::leave();
            code
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
