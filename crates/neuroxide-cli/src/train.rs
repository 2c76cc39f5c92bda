//! `neuroxide train …`: the reference examples and training on the user's data.

use clap::{Args, Subcommand};
use neuroxide::examples::xor;
use neuroxide::Device;

#[derive(Args)]
pub struct TrainArgs {
    #[command(subcommand)]
    example: TrainCmd,
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

pub fn run(args: TrainArgs) -> neuroxide::Result<()> {
    match args.example {
        TrainCmd::Xor {
            device,
            seed,
            steps,
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
