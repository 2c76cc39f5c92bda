//! `neuroxide`: train the reference examples, and (soon) validate and benchmark.

use clap::{Parser, Subcommand};
use neuroxide::examples::xor;
use neuroxide::Device;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "neuroxide", version, about = "Neuroxide deep-learning toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a reference example.
    Train {
        #[command(subcommand)]
        example: TrainCmd,
    },
}

#[derive(Subcommand)]
enum TrainCmd {
    /// XOR with a 2-4-1 tanh/sigmoid network, Adam(0.05), MSE.
    Xor {
        /// cpu, cuda, cuda:N or auto
        #[arg(long, default_value = "cpu")]
        device: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 500)]
        steps: usize,
    },
}

fn run(cli: Cli) -> neuroxide::Result<()> {
    match cli.command {
        Command::Train {
            example:
                TrainCmd::Xor {
                    device,
                    seed,
                    steps,
                },
        } => {
            let r = xor::train(Device::parse(&device)?, seed, steps)?;
            for (x, p) in xor::INPUTS.iter().zip(&r.predictions) {
                println!("{x:?} -> {p:.4}");
            }
            println!(
                "final loss {:.6}, max |error| {:.4} after {} steps ({:.1} µs/step)",
                r.final_loss, r.max_error, r.steps, r.micros_per_step
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
