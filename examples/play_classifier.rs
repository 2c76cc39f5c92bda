//! Which of the eight Shakespeare plays does a 64-character window come from? A transformer
//! classifier (embedding → block → mean pool → dense softmax) trained on the first 90% of each
//! play and tested on windows from the held-out last 10% (chance: 12.5%).
//!
//! ```text
//! cargo run --release --example play_classifier -- [steps] [cpu|cuda]
//! ```

use neuroxide::Device;
use neuroxide_examples::play_classifier::{train, PlayOptions, PLAYS};

fn main() -> neuroxide::Result<()> {
    let mut args = std::env::args().skip(1);
    let o = PlayOptions {
        steps: args.next().and_then(|s| s.parse().ok()).unwrap_or(1500),
        device: Device::parse(&args.next().unwrap_or_else(|| "cpu".into()))?,
        ..PlayOptions::default()
    };
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let t0 = std::time::Instant::now();
    let r = train(&data, &o, &mut |line| println!("{line}"))?;
    for (title, (correct, total)) in PLAYS.iter().zip(&r.per_play) {
        println!("  {title:<28} {correct:>4} / {total:<4}");
    }
    println!(
        "test accuracy {:.1}% on {} held-out windows (chance 12.5%); {:.0}s",
        100.0 * r.test_accuracy,
        r.test_windows,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
