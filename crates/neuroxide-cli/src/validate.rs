//! `neuroxide validate`: the validation report. Interim: trains XOR and prints the result.

use clap::Args;
use neuroxide::examples::xor;
use neuroxide::Device;
use std::process::ExitCode;

#[derive(Args)]
pub struct ValidateArgs {
    /// Small budgets (finishes within 3 minutes on 2 cores).
    #[arg(long)]
    quick: bool,
}

pub fn run(_args: ValidateArgs) -> neuroxide::Result<ExitCode> {
    let r = xor::train(Device::cpu(), 1, 500)?;
    let ok = r.max_error < 0.1;
    println!(
        "xor cpu: max |error| {:.4} ({}), {:.1} µs/step",
        r.max_error,
        if ok { "pass" } else { "FAIL" },
        r.micros_per_step
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
