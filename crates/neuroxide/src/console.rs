//! Standard output that survives a closed pipe. `neuroxide train … | head` closes the pipe after
//! ten lines; Rust's `println!` then panics (exit 101) and the training — and its `--save` — is
//! lost. Everything the library and the CLI print for people goes through [`out!`]/[`outln!`]
//! instead: after the first `BrokenPipe` the output is dropped quietly and the work carries on
//! (so the model is still saved and the exit status still tells success from failure).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether a write to stdout has found the pipe closed.
pub fn stdout_closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// Writes `args` to stdout; a closed pipe silences every later write, other errors (a full
/// disk behind a redirect) are reported once on stderr and silence stdout too.
pub fn write_stdout(args: std::fmt::Arguments) {
    if stdout_closed() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("warning: standard output failed ({e}); further output is dropped");
        }
    }
}

/// A `Write` to stdout with the same closed-pipe behaviour (for writers such as the epoch
/// logger): writes always succeed.
#[derive(Clone, Copy, Debug, Default)]
pub struct QuietStdout;

impl Write for QuietStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_stdout(format_args!("{}", String::from_utf8_lossy(buf)));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `print!` that never panics on a closed stdout (see the module documentation).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::write_stdout(format_args!($($arg)*)) };
}

/// `println!` that never panics on a closed stdout (see the module documentation).
#[macro_export]
macro_rules! outln {
    () => { $crate::console::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::console::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}
