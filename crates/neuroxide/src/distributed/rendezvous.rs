//! The rendezvous: rank 0 listens on `MASTER_ADDR:MASTER_PORT` and hands every other rank the
//! job's shared secret (the NCCL unique id, 128 bytes) over TCP.
//!
//! Protocol (one connection per non-zero rank): the rank sends `NXRV`, its rank and the world
//! size (u32 little-endian each); rank 0 checks them (world size equal, rank in range and not
//! seen before) and answers with `u32` length + the id, or `u32::MAX` + an error text. Every
//! wait has the same deadline: a rank that cannot connect, a rank 0 missing a peer, a peer
//! that never answers — each ends with an error naming the address and the ranks still missing
//! after `timeout`, never a hang.
//!
//! The connections stay open after the exchange ([`Rendezvous::links`]): the job's watchdog
//! (`liveness.rs`) sends its heartbeats over them, so a rank that dies is noticed by rank 0 and
//! rank 0's death by every other rank.

use super::env::DistEnv;
use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

const MAGIC: &[u8; 4] = b"NXRV";
const REFUSED: u32 = u32::MAX;

/// The open connection to one peer after the rendezvous.
pub struct Link {
    /// The peer's rank.
    pub peer: usize,
    pub stream: TcpStream,
}

/// What the rendezvous leaves: the job's id and the open connections (rank 0: one per other
/// rank, in rank order; any other rank: one, to rank 0; a job of one rank: none).
pub struct Rendezvous {
    pub id: Vec<u8>,
    pub links: Vec<Link>,
}

/// Exchanges the job's id: rank 0 calls `make_id` and sends its bytes to every other rank;
/// every rank returns them. Completes when all `world_size` ranks took part, or fails after
/// `timeout`. The connections are closed ([`rendezvous()`] keeps them).
pub fn exchange_id(
    env: &DistEnv,
    timeout: Duration,
    make_id: &mut dyn FnMut() -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    Ok(rendezvous(env, timeout, make_id)?.id)
}

/// [`exchange_id`], keeping the connections open for the job's watchdog.
pub fn rendezvous(
    env: &DistEnv,
    timeout: Duration,
    make_id: &mut dyn FnMut() -> Result<Vec<u8>>,
) -> Result<Rendezvous> {
    let deadline = Instant::now() + timeout;
    let addr = format!("{}:{}", env.master_addr, env.master_port);
    if env.rank == 0 {
        serve(env, &addr, deadline, timeout, make_id)
    } else {
        let (id, stream) = fetch(env, &addr, deadline, timeout)?;
        let _ = stream.set_read_timeout(None);
        Ok(Rendezvous {
            id,
            links: vec![Link { peer: 0, stream }],
        })
    }
}

fn io_err(what: &str, addr: &str, e: std::io::Error) -> Error {
    Error::invalid(format!("rendezvous on {addr}: {what}: {e}"))
}

fn serve(
    env: &DistEnv,
    addr: &str,
    deadline: Instant,
    timeout: Duration,
    make_id: &mut dyn FnMut() -> Result<Vec<u8>>,
) -> Result<Rendezvous> {
    let id = make_id()?;
    let mut links: Vec<Link> = Vec::with_capacity(env.world_size.saturating_sub(1));
    if env.world_size == 1 {
        return Ok(Rendezvous { id, links });
    }
    let listener = TcpListener::bind(addr).map_err(|e| io_err("rank 0 cannot listen", addr, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| io_err("listener", addr, e))?;
    let mut joined = vec![false; env.world_size];
    joined[0] = true;
    while joined.iter().any(|j| !j) {
        if Instant::now() >= deadline {
            let missing: Vec<String> = (0..env.world_size)
                .filter(|&r| !joined[r])
                .map(|r| r.to_string())
                .collect();
            return Err(Error::invalid(format!(
                "rendezvous on {addr}: rank(s) {} did not join within {:.0} s (dead, or a \
                 different MASTER_ADDR/MASTER_PORT?)",
                missing.join(", "),
                timeout.as_secs_f64()
            )));
        }
        match listener.accept() {
            Ok((mut s, _)) => {
                let _ = s.set_nonblocking(false);
                let wait = deadline.saturating_duration_since(Instant::now());
                let _ = s.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
                match read_hello(&mut s) {
                    Ok((rank, world)) => {
                        let refusal = if world != env.world_size {
                            Some(format!(
                                "rank {rank} has WORLD_SIZE={world}, rank 0 has {}",
                                env.world_size
                            ))
                        } else if rank == 0 || rank >= env.world_size || joined[rank] {
                            Some(format!("rank {rank} is out of range or joined twice"))
                        } else {
                            None
                        };
                        match refusal {
                            None => {
                                write_reply(&mut s, &id).map_err(|e| io_err("reply", addr, e))?;
                                let _ = s.set_read_timeout(None);
                                joined[rank] = true;
                                links.push(Link {
                                    peer: rank,
                                    stream: s,
                                });
                            }
                            Some(why) => {
                                let _ = write_refusal(&mut s, &why);
                                return Err(Error::invalid(format!("rendezvous on {addr}: {why}")));
                            }
                        }
                    }
                    Err(_) => continue, // not a rank (a port scan, a stale client): ignore
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(io_err("accept", addr, e)),
        }
    }
    links.sort_by_key(|l| l.peer);
    Ok(Rendezvous { id, links })
}

fn fetch(
    env: &DistEnv,
    addr: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<(Vec<u8>, TcpStream)> {
    let mut last = String::from("no attempt");
    loop {
        if Instant::now() >= deadline {
            return Err(Error::invalid(format!(
                "rendezvous: rank {} could not reach rank 0 at {addr} within {:.0} s ({last})",
                env.rank,
                timeout.as_secs_f64()
            )));
        }
        let target = addr
            .to_socket_addrs()
            .map_err(|e| io_err("cannot resolve MASTER_ADDR", addr, e))?
            .next()
            .ok_or_else(|| Error::invalid(format!("rendezvous: {addr} resolves to nothing")))?;
        let wait = deadline.saturating_duration_since(Instant::now());
        match TcpStream::connect_timeout(&target, wait.max(Duration::from_millis(1))) {
            Ok(mut s) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                let _ = s.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
                let mut hello = MAGIC.to_vec();
                hello.extend_from_slice(&(env.rank as u32).to_le_bytes());
                hello.extend_from_slice(&(env.world_size as u32).to_le_bytes());
                s.write_all(&hello).map_err(|e| io_err("send", addr, e))?;
                let id = read_reply(&mut s).map_err(|e| match e {
                    Reply::Refused(why) => {
                        Error::invalid(format!("rendezvous on {addr}: rank 0 refused: {why}"))
                    }
                    Reply::Io(e) => io_err("no answer from rank 0", addr, e),
                })?;
                return Ok((id, s));
            }
            Err(e) => {
                last = e.to_string();
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn read_u32(s: &mut TcpStream) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    s.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_hello(s: &mut TcpStream) -> std::io::Result<(usize, usize)> {
    let mut magic = [0u8; 4];
    s.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(std::io::Error::other("not a neuroxide rendezvous"));
    }
    Ok((read_u32(s)? as usize, read_u32(s)? as usize))
}

fn write_reply(s: &mut TcpStream, id: &[u8]) -> std::io::Result<()> {
    s.write_all(&(id.len() as u32).to_le_bytes())?;
    s.write_all(id)
}

fn write_refusal(s: &mut TcpStream, why: &str) -> std::io::Result<()> {
    s.write_all(&REFUSED.to_le_bytes())?;
    s.write_all(&(why.len() as u32).to_le_bytes())?;
    s.write_all(why.as_bytes())
}

enum Reply {
    Refused(String),
    Io(std::io::Error),
}

fn read_reply(s: &mut TcpStream) -> std::result::Result<Vec<u8>, Reply> {
    let n = read_u32(s).map_err(Reply::Io)?;
    let len = if n == REFUSED {
        read_u32(s).map_err(Reply::Io)?
    } else {
        n
    } as usize;
    if len > 1 << 20 {
        return Err(Reply::Io(std::io::Error::other("reply too long")));
    }
    let mut v = vec![0u8; len];
    s.read_exact(&mut v).map_err(Reply::Io)?;
    if n == REFUSED {
        return Err(Reply::Refused(String::from_utf8_lossy(&v).into_owned()));
    }
    Ok(v)
}
