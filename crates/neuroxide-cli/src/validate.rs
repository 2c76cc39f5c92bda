//! `neuroxide validate`: parses options, runs `neuroxide::validate`, prints the table, writes the
//! Markdown report only where `--out` says (so that the README's main command leaves the work
//! tree clean) and turns failures into the exit status. The logic lives in the library
//! (testable).

use clap::Args;
use neuroxide_examples::validate::{validate, DeviceSelection, ValidateOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ValidateArgs {
    /// Backends to validate: all (every available one), cpu or cuda.
    #[arg(long, default_value = "all")]
    device: String,
    /// Small budgets: the whole run finishes within 3 minutes on 2 CPU cores.
    #[arg(long)]
    quick: bool,
    /// Write the Markdown report here (e.g. docs/VALIDATION.md to regenerate the committed
    /// one); without it only the table is printed.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of every training run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run only these examples (comma-separated: xor, csv, mnist, transformer).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Override an example's success threshold, NAME=VALUE (e.g. xor=0.0001); used by tests to
    /// force a criterion to fail.
    #[arg(long, value_name = "NAME=VALUE")]
    threshold: Vec<String>,
    /// Skip the CPU 1-thread-vs-N-threads parity runs.
    #[arg(long)]
    no_thread_parity: bool,
}

pub fn run(args: ValidateArgs) -> neuroxide::Result<ExitCode> {
    let thresholds = args
        .threshold
        .iter()
        .map(|t| {
            let (n, v) = t.split_once('=').ok_or_else(|| {
                neuroxide::Error::invalid(format!("--threshold {t}: expected NAME=VALUE"))
            })?;
            let v: f64 = v.parse().map_err(|_| {
                neuroxide::Error::invalid(format!("--threshold {t}: '{v}' is not a number"))
            })?;
            Ok((n.to_string(), v))
        })
        .collect::<neuroxide::Result<Vec<_>>>()?;
    let command = std::iter::once("neuroxide".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let opts = ValidateOptions {
        devices: DeviceSelection::parse(&args.device)?,
        quick: args.quick,
        seed: args.seed,
        only: args.only,
        thresholds,
        thread_parity: !args.no_thread_parity,
        command,
    };
    let report = validate(&opts, &mut |line| eprintln!("{line}"))?;
    outln!("{}", report.render_table());
    match &args.out {
        Some(out) => {
            let md = report.render_markdown();
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| neuroxide::Error::io(dir, e))?;
            }
            std::fs::write(out, &md).map_err(|e| neuroxide::Error::io(out, e))?;
            outln!(
                "report written to {} ({:.1} s)",
                out.display(),
                report.wall_s
            );
        }
        None => outln!(
            "({:.1} s; no report file written: pass --out docs/VALIDATION.md to regenerate the \
             committed report)",
            report.wall_s
        ),
    }
    let failures = report.failures();
    if failures.is_empty() {
        outln!("validation passed");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("validation FAILED:");
        for f in &failures {
            eprintln!("  {f}");
        }
        Ok(ExitCode::FAILURE)
    }
}
