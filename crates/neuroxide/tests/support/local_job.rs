//! A data-parallel job on this machine for tests: ranks as threads or processes on localhost.
#![allow(dead_code)]

use neuroxide::distributed::DistEnv;

/// A TCP port on 127.0.0.1 that was free a moment ago (the rendezvous port of a test job).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Rank `rank` of a job of `world` ranks whose rendezvous is 127.0.0.1:`port`.
pub fn env(rank: usize, world: usize, port: u16) -> DistEnv {
    DistEnv {
        rank,
        world_size: world,
        local_rank: rank,
        master_addr: "127.0.0.1".into(),
        master_port: port,
    }
}
