//! Ports for the processes the local runtime starts, and who listens on them.
//!
//! A port is free only when it is chosen: until the server binds it, another
//! process (another run, or a second server of this run) may bind it first.
//! The server then cannot listen, and the probes are answered by the other
//! process, so a run would measure a server it did not start. Ports are never
//! handed out twice by one process, and a run asks the kernel which process
//! holds the listening socket before it trusts what answered there.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;

use nix::unistd::Pid;
use procfs::net::TcpState;

use super::RuntimeError;

/// Who holds the listening socket of a port that `127.0.0.1` reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Holder {
    /// Only processes of the server's own process group.
    Itself,
    /// Nothing listens there (yet).
    Nobody,
    /// Another process: who, in words ("pid 12 (python3)").
    Other(String),
}

/// The ports this process has handed out (never handed out again).
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port nothing listens on now and that this process has not handed out
/// before (two servers of one run never share one).
pub(crate) fn free_port() -> Result<u16, RuntimeError> {
    let io = |source| RuntimeError::Io {
        context: "find a free port".into(),
        source,
    };
    // The kernel picks at random in its ephemeral range: a repeat is rare,
    // several in a row are a machine that has run out of ports.
    for _ in 0..64 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .map_err(io)?;
        if HANDED_OUT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(port)
        {
            return Ok(port);
        }
    }
    Err(io(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "every port the kernel offered was handed out before",
    )))
}

/// Who listens on `port` where `127.0.0.1` reaches it, for a server whose
/// process group is `group`.
pub(crate) fn holder(port: u16, group: Pid) -> Holder {
    let tables = [procfs::net::tcp(), procfs::net::tcp6()];
    if let [Err(error), Err(_)] = &tables {
        // Unverifiable is not ours: never trust an answer nobody can place.
        return Holder::Other(format!(
            "a process this run cannot name (the kernel's socket table /proc/net/tcp cannot be read: {error})"
        ));
    }
    let sockets = tables
        .into_iter()
        .flat_map(Result::unwrap_or_default)
        .map(|entry| Socket {
            address: entry.local_address,
            listening: entry.state == TcpState::Listen,
            inode: entry.inode,
        });
    let mut unclaimed: BTreeSet<u64> = listening(sockets, port).collect();
    if unclaimed.is_empty() {
        return Holder::Nobody;
    }
    // The group's own processes first: usually they hold every socket.
    let processes: Vec<_> = procfs::process::all_processes()
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    let in_group = |process: &procfs::process::Process| {
        process.stat().is_ok_and(|stat| stat.pgrp == group.as_raw())
    };
    let (ours, theirs): (Vec<_>, Vec<_>) = processes.iter().partition(|p| in_group(p));
    for process in ours {
        for inode in sockets_of(process) {
            unclaimed.remove(&inode);
        }
    }
    if unclaimed.is_empty() {
        return Holder::Itself;
    }
    let others: Vec<String> = theirs
        .into_iter()
        .filter(|process| sockets_of(process).any(|inode| unclaimed.contains(&inode)))
        .map(|process| {
            let name = process
                .stat()
                .map(|s| s.comm)
                .unwrap_or_else(|_| "?".into());
            format!("pid {} ({name})", process.pid)
        })
        .collect();
    match others.is_empty() {
        true => Holder::Other("a process this user cannot inspect".into()),
        false => Holder::Other(others.join(", ")),
    }
}

/// The inodes of the sockets `process` has open (none when it cannot be read).
fn sockets_of(process: &procfs::process::Process) -> impl Iterator<Item = u64> {
    process
        .fd()
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| match fd.target {
            procfs::process::FDTarget::Socket(inode) => Some(inode),
            _ => None,
        })
}

/// A row of the kernel's TCP socket tables.
struct Socket {
    address: SocketAddr,
    listening: bool,
    inode: u64,
}

/// The inodes of the listening sockets that a connection to
/// `127.0.0.1:port` may reach.
fn listening(sockets: impl Iterator<Item = Socket>, port: u16) -> impl Iterator<Item = u64> {
    sockets
        .filter(move |socket| socket.listening && reaches_loopback(socket.address, port))
        .map(|socket| socket.inode)
}

/// Whether a socket bound to `address` takes connections to `127.0.0.1:port`
/// (an IPv6 wildcard may be dual-stack: counted, to be safe).
fn reaches_loopback(address: SocketAddr, port: u16) -> bool {
    address.port() == port
        && match address.ip() {
            IpAddr::V4(ip) => ip == Ipv4Addr::LOCALHOST || ip.is_unspecified(),
            IpAddr::V6(ip) => {
                ip == Ipv6Addr::UNSPECIFIED || ip.to_ipv4_mapped() == Some(Ipv4Addr::LOCALHOST)
            }
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(address: &str, listening: bool, inode: u64) -> Socket {
        Socket {
            address: address.parse().expect("an address"),
            listening,
            inode,
        }
    }

    #[test]
    fn only_listening_sockets_on_the_port_that_loopback_reaches_count() {
        let port = 40_001;
        let entries = [
            socket("127.0.0.1:40001", true, 1),
            socket("0.0.0.0:40001", true, 2),
            socket("[::]:40001", true, 3),
            socket("[::ffff:127.0.0.1]:40001", true, 4),
            // Not reached by 127.0.0.1:40001.
            socket("10.1.2.3:40001", true, 5),
            socket("[::1]:40001", true, 6),
            socket("127.0.0.1:40002", true, 7),
            // A connection, not a listener.
            socket("127.0.0.1:40001", false, 8),
        ];
        let found: Vec<u64> = listening(entries.into_iter(), port).collect();
        assert_eq!(found, vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_port_is_never_handed_out_twice() {
        let ports: BTreeSet<u16> = (0..200).map(|_| free_port().expect("a port")).collect();
        assert_eq!(ports.len(), 200);
    }

    #[test]
    fn the_holder_of_a_port_is_named_by_its_process_group() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let ours = nix::unistd::getpgrp();
        assert_eq!(holder(port, ours), Holder::Itself);
        let Holder::Other(who) = holder(port, Pid::from_raw(i32::MAX)) else {
            panic!("another group's server is not the holder");
        };
        assert!(
            who.contains(&format!("pid {}", std::process::id())),
            "{who}"
        );
        drop(listener);
        assert_eq!(holder(port, ours), Holder::Nobody);
    }
}
