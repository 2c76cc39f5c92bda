//! The report's data (rows of measured outcomes) and its Markdown rendering, with GoNeuron's
//! columns: example, CPU success, GPU success, parity, speed, notes. Every cell is derived from
//! a measurement held in the row; nothing is typed in by hand.

use super::criteria::{num, Criterion};
use super::system::SystemInfo;
use neuroxide::parity::ParityStats;

/// What one example produced on one backend.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Trained and measured.
    Measured {
        /// The criterion's metric.
        metric: f64,
        steps: usize,
        ms_per_step: f64,
    },
    /// The backend or the example does not exist on this machine; not a failure.
    NotAvailable(String),
    /// Left out by `--device`.
    NotRequested,
    /// The run returned an error; a failure.
    Error(String),
}

/// The CPU-against-CUDA comparison of one example.
#[derive(Clone, Debug, PartialEq)]
pub enum Parity {
    /// Both runs exist: every step's loss and every final weight compared bit for bit.
    Compared {
        losses: ParityStats,
        weights: ParityStats,
    },
    /// One of the runs is missing.
    NotMeasured(String),
    /// The runs could not be compared (different step counts or weight shapes); a failure.
    Error(String),
}

/// One row of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Name used on the command line (`xor`, `csv`, …).
    pub name: String,
    /// Name in the first column.
    pub title: String,
    pub criterion: Criterion,
    pub cpu: Outcome,
    pub gpu: Outcome,
    pub parity: Parity,
    /// Other checks of this row (e.g. CPU 1 thread against N threads): `(text, passed)`.
    pub checks: Vec<(String, bool)>,
    /// Free-text notes (what was trained, budgets).
    pub notes: Vec<String>,
}

/// Milliseconds per step, written in the unit that keeps 3–4 significant digits.
pub fn time_per_step(ms: f64) -> String {
    if ms < 1.0 {
        format!("{} µs/step", num(ms * 1e3))
    } else {
        format!("{} ms/step", num(ms))
    }
}

impl Row {
    fn outcome_cell(&self, o: &Outcome) -> String {
        match o {
            Outcome::Measured { metric, .. } => self.criterion.describe(*metric),
            Outcome::NotAvailable(why) => format!("not available: {why}"),
            Outcome::NotRequested => "not requested".into(),
            Outcome::Error(e) => format!("FAIL: error: {e}"),
        }
    }

    /// The CPU success cell.
    pub fn cpu_cell(&self) -> String {
        self.outcome_cell(&self.cpu)
    }

    /// The GPU success cell.
    pub fn gpu_cell(&self) -> String {
        self.outcome_cell(&self.gpu)
    }

    /// The parity cell.
    pub fn parity_cell(&self) -> String {
        match &self.parity {
            Parity::Compared { losses, weights } => {
                let same = losses.identical() && weights.identical();
                format!(
                    "{}: {} step losses + {} weight elements compared, {} differing, max ulp {}",
                    if same {
                        "bit-identical"
                    } else {
                        "FAIL: not bit-identical"
                    },
                    losses.compared,
                    weights.compared,
                    losses.differing + weights.differing,
                    ulp_text(losses.max_ulp.max(weights.max_ulp))
                )
            }
            Parity::NotMeasured(why) => format!("not measured: {why}"),
            Parity::Error(e) => format!("FAIL: {e}"),
        }
    }

    /// The speed cell: time per step on each measured backend and, with both, their ratio.
    pub fn speed_cell(&self) -> String {
        let ms = |o: &Outcome| match o {
            Outcome::Measured { ms_per_step, .. } => Some(*ms_per_step),
            _ => None,
        };
        match (ms(&self.cpu), ms(&self.gpu)) {
            (Some(c), Some(g)) => format!(
                "CPU {}, CUDA {}; CUDA/CPU speed {}×",
                time_per_step(c),
                time_per_step(g),
                num(c / g)
            ),
            (Some(c), None) => format!("CPU {}; CUDA —", time_per_step(c)),
            (None, Some(g)) => format!("CPU —; CUDA {}", time_per_step(g)),
            (None, None) => "—".into(),
        }
    }

    /// The notes cell: the row's checks, then its notes.
    pub fn notes_cell(&self) -> String {
        self.checks
            .iter()
            .map(|(t, ok)| if *ok { t.clone() } else { format!("FAIL: {t}") })
            .chain(self.notes.iter().cloned())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Why this row fails, one line per failed criterion, error or parity check (empty when it
    /// passes). Unavailable backends and examples are not failures.
    pub fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        for (backend, o) in [("CPU", &self.cpu), ("GPU", &self.gpu)] {
            match o {
                Outcome::Measured { metric, .. } if !self.criterion.passes(*metric) => {
                    f.push(format!(
                        "{}: {backend}: {}",
                        self.title,
                        self.criterion.describe(*metric)
                    ))
                }
                Outcome::Error(e) => f.push(format!("{}: {backend}: error: {e}", self.title)),
                _ => {}
            }
        }
        match &self.parity {
            Parity::Compared { losses, weights }
                if !(losses.identical() && weights.identical()) =>
            {
                f.push(format!("{}: parity: {}", self.title, self.parity_cell()))
            }
            Parity::Error(e) => f.push(format!("{}: parity: {e}", self.title)),
            _ => {}
        }
        for (t, ok) in &self.checks {
            if !ok {
                f.push(format!("{}: {t}", self.title));
            }
        }
        f
    }
}

fn ulp_text(u: u64) -> String {
    if u == u64::MAX {
        "∞ (NaN mismatch)".into()
    } else {
        u.to_string()
    }
}

/// Escapes a table cell: `|` would end the cell, a newline the row.
pub fn escape_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The whole report.
#[derive(Clone, Debug)]
pub struct Report {
    pub system: SystemInfo,
    /// The command line that produced it.
    pub command: String,
    /// The budget in words.
    pub budget: String,
    pub rows: Vec<Row>,
    /// Wall-clock seconds of the whole run.
    pub wall_s: f64,
    /// Notes printed under the table.
    pub notes: Vec<String>,
}

impl Report {
    /// Every failure of every row.
    pub fn failures(&self) -> Vec<String> {
        self.rows.iter().flat_map(Row::failures).collect()
    }

    /// The headline of a passing report: PASS, and what was not measured (a PASS on the CPU
    /// alone must not read like a PASS on both backends).
    pub fn pass_headline(&self) -> String {
        let missing = |pick: fn(&Row) -> Option<String>| -> Vec<String> {
            self.rows.iter().filter_map(pick).collect()
        };
        let gpu = missing(|r| match &r.gpu {
            Outcome::NotAvailable(why) => Some(format!("{} ({why})", r.title)),
            Outcome::NotRequested => Some(format!("{} (not requested)", r.title)),
            _ => None,
        });
        let parity = missing(|r| match &r.parity {
            Parity::NotMeasured(_) => Some(r.title.clone()),
            _ => None,
        });
        let mut s = String::from("PASS (every criterion and parity check that ran passed)");
        if !gpu.is_empty() {
            s.push_str(&format!("; GPU runs not measured: {}", gpu.join(", ")));
        }
        if !parity.is_empty() {
            s.push_str(&format!(
                "; CPU/GPU parity not measured: {}",
                parity.join(", ")
            ));
        }
        s
    }

    /// Whether every criterion and parity check passed.
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// The table alone (header row, separator, one line per example).
    pub fn render_table(&self) -> String {
        let mut s = String::from(
            "| Example | CPU success | GPU success | Parity (CPU vs CUDA, exact mode) | Speed | Notes |\n\
             | --- | --- | --- | --- | --- | --- |\n",
        );
        for r in &self.rows {
            let cells = [
                r.title.clone(),
                r.cpu_cell(),
                r.gpu_cell(),
                r.parity_cell(),
                r.speed_cell(),
                r.notes_cell(),
            ];
            let cells: Vec<String> = cells.iter().map(|c| escape_cell(c)).collect();
            s.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        s
    }

    /// The full Markdown document.
    pub fn render_markdown(&self) -> String {
        let sys = &self.system;
        let mut s = String::from("# Neuroxide validation report\n\n");
        s.push_str(&format!(
            "Written by `{}` from live runs: every cell below is a measurement of that run.\n\n",
            self.command
        ));
        s.push_str(&format!("- Date: {}\n", sys.date));
        s.push_str(&format!("- Commit: {}\n", sys.commit));
        s.push_str(&format!(
            "- CPU: {}, {} threads\n",
            sys.cpu, sys.cpu_threads
        ));
        s.push_str(&format!("- GPU: {}\n", sys.gpu));
        s.push_str(&format!("- Driver: {}; CUDA: {}\n", sys.driver, sys.cuda));
        s.push_str(&format!("- Budget: {}\n", self.budget));
        s.push_str(&format!(
            "- Wall time of the run: {:.1} s\n- Result: {}\n\n",
            self.wall_s,
            if self.passed() {
                self.pass_headline()
            } else {
                format!(
                    "FAIL ({} failed check(s), listed below)",
                    self.failures().len()
                )
            }
        ));
        s.push_str(&self.render_table());
        let failures = self.failures();
        if !failures.is_empty() {
            s.push_str("\n## Failures\n\n");
            for f in failures {
                s.push_str(&format!("- {f}\n"));
            }
        }
        if !self.notes.is_empty() {
            s.push_str("\n## Notes\n\n");
            for n in &self.notes {
                s.push_str(&format!("- {n}\n"));
            }
        }
        s
    }
}
