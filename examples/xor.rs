//! XOR with a 2-4-1 network: tanh hidden layer, sigmoid output, Adam(0.05), MSE, the four rows
//! as one batch. Prints the four predictions.
//!
//! `cargo run --release --example xor [-- --device cuda] [-- --seed N]`

use neuroxide::examples::xor;
use neuroxide::{Device, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let device = Device::parse(&arg("--device").unwrap_or_else(|| "cpu".into()))?;
    let seed = arg("--seed").and_then(|s| s.parse().ok()).unwrap_or(1);
    let report = xor::train(device, seed, 500)?;
    for (x, p) in xor::INPUTS.iter().zip(&report.predictions) {
        println!("{:?} -> {p:.4}", x);
    }
    println!(
        "final loss {:.6} after {} steps ({:.1} µs/step)",
        report.final_loss, report.steps, report.micros_per_step
    );
    Ok(())
}
