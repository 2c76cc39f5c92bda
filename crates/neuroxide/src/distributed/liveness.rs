//! The job's watchdog: every rank proves it is alive to its rendezvous peers (rank 0 to every
//! other rank, each other rank to rank 0) over the connections the rendezvous left open.
//!
//! Why: a rank that dies in the middle of a step leaves its peers inside an NCCL transfer that
//! never completes. Over NVLink or shared memory NCCL does not notice a dead peer, and the host
//! thread waits on the device forever, so a check between steps never runs. The watchdog runs
//! on its own threads: it notices a dead peer whatever the training thread is doing, reports
//! it, and ends this process with an error (which ends a `neuroxide launch` job at once, and
//! closes this rank's own links, so every rank of a torchrun- or SLURM-style job stops too).
//!
//! Protocol, per link: each side writes one byte every `timeout / 8` — [`ALIVE`] — and
//! [`BYE`] when it leaves the job normally ([`Watchdog`] is dropped, by
//! `neuroxide::distributed::leave` once the rank's work is done; a process that ends with an
//! error never says goodbye, so its peers stop too). The reading side reports the peer dead when the
//! connection closes without a [`BYE`] (the operating system closes a killed process's
//! sockets at once: detected within milliseconds), when it reads anything else, or when no
//! byte arrives for `timeout` (a frozen process or a lost network: detected after `timeout`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::rendezvous::Link;

/// The heartbeat byte.
pub const ALIVE: u8 = b'+';
/// The byte of a normal shutdown.
pub const BYE: u8 = b'.';

/// What the watchdog does when a peer is found dead: gets the message naming the peer and why.
pub type OnDead = Arc<dyn Fn(String) + Send + Sync>;

/// The running watchdog of one rank; dropping it says goodbye to every peer.
pub struct Watchdog {
    links: Vec<(usize, TcpStream)>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching `links` (this process is rank `rank`): one thread per link sends the
    /// heartbeats, one reads the peer's. `on_dead` runs once per dead peer, on a watchdog
    /// thread.
    pub fn start(
        rank: usize,
        links: Vec<Link>,
        timeout: Duration,
        on_dead: OnDead,
    ) -> std::io::Result<Watchdog> {
        let stop = Arc::new(AtomicBool::new(false));
        let beat = (timeout / 8).max(Duration::from_millis(10));
        let mut threads = Vec::with_capacity(2 * links.len());
        let mut kept = Vec::with_capacity(links.len());
        for Link { peer, stream } in links {
            stream.set_read_timeout(Some(timeout))?;
            stream.set_nodelay(true)?;
            let mut writer = stream.try_clone()?;
            let mut reader = stream.try_clone()?;
            let stop_w = Arc::clone(&stop);
            threads.push(std::thread::spawn(move || {
                while !stop_w.load(Ordering::Relaxed) {
                    if writer.write_all(&[ALIVE]).is_err() {
                        return; // the reading side reports the peer
                    }
                    std::thread::sleep(beat);
                }
            }));
            let stop_r = Arc::clone(&stop);
            let report = Arc::clone(&on_dead);
            threads.push(std::thread::spawn(move || {
                if let Some(why) = watch(&mut reader, timeout) {
                    if !stop_r.load(Ordering::Relaxed) {
                        report(format!(
                            "data-parallel job: rank {rank} lost rank {peer}: {why}"
                        ));
                    }
                }
            }));
            kept.push((peer, stream));
        }
        Ok(Watchdog {
            links: kept,
            stop,
            threads,
        })
    }

    /// The peers watched, in rank order.
    pub fn peers(&self) -> Vec<usize> {
        self.links.iter().map(|(p, _)| *p).collect()
    }
}

/// Reads heartbeats until the peer says goodbye (`None`) or is found dead (`Some(why)`).
fn watch(reader: &mut TcpStream, timeout: Duration) -> Option<String> {
    let mut buf = [0u8; 64];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Some("its connection closed (the process ended)".into()),
            Ok(n) => {
                if buf[..n].contains(&BYE) {
                    return None;
                }
                if buf[..n].iter().any(|&b| b != ALIVE) {
                    return Some("it sent an unexpected byte on the watchdog link".into());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Some(format!(
                    "no heartbeat for {:.1} s (frozen or unreachable)",
                    timeout.as_secs_f64()
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Some(format!("its connection failed ({e})")),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for (_, s) in &mut self.links {
            let _ = s.write_all(&[BYE]);
            let _ = s.shutdown(Shutdown::Write);
        }
        // The readers end when the peers say goodbye or close; do not wait for them here
        // (a peer may still be training). The writers stop within one beat.
        self.threads.clear();
    }
}

/// The default reaction to a dead peer in a training process: the message on standard error,
/// then the process ends at once with status 1 (`_exit`: no exit handlers). The training thread
/// may be stuck in a device wait that never returns, so it cannot be asked to stop; and the
/// driver's own exit handlers can wait for that stuck transfer (measured on 2 H200s: a rank
/// whose peer was killed hung in `exit`), which `_exit` skips.
pub fn exit_on_dead() -> OnDead {
    Arc::new(|why: String| {
        eprintln!("error: {why}; stopping this rank");
        // SAFETY: `_exit` takes no pointers and never returns; skipping the exit handlers is
        // the point (see above). Standard error is unbuffered, so the message is out.
        unsafe { libc::_exit(1) }
    })
}

/// The watchdog timeout: `NEUROXIDE_DP_TIMEOUT` seconds, 30 by default.
pub fn timeout_from_env() -> crate::error::Result<Duration> {
    super::seconds_from_env("NEUROXIDE_DP_TIMEOUT", 30.0)
}
