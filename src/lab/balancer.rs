//! A TCP load balancer for loopback, in front of a cluster of lab nodes: what a real deployment puts before
//! several nodes sharing one database. It knows nothing of TLS or HTTP — it copies bytes — so the client's
//! TLS session ends at a node, whose certificate names 127.0.0.1 like the balancer's address.
//!
//! Each incoming connection goes to the next backend in turn; a backend that refuses the connection (a
//! killed node) is skipped for the next one, so clients see a dead node only through connections it held.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::{LabError, failed};

/// How long to wait for one backend to accept before trying the next. Loopback refuses a dead port at once;
/// this bounds a backend that hangs (stopped, not dead).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A running balancer; it stops, dropping every connection it carries, when dropped.
pub struct Balancer {
    addr: SocketAddr,
    backends: Vec<SocketAddr>,
    served: Arc<Vec<AtomicU64>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Balancer {
    /// Listens on a free loopback port and forwards each connection to one of `backends`, round-robin.
    pub fn start(backends: Vec<SocketAddr>) -> Result<Balancer, LabError> {
        if backends.is_empty() {
            return Err(LabError {
                step: "starting a balancer".into(),
                detail: "no backends".into(),
            });
        }
        // Its own runtime on its own thread: the balancer must keep forwarding while the caller blocks (a
        // test waiting for a node's "ready", or a benchmark in its own block_on).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lab-balancer")
            .enable_all()
            .build()
            .map_err(failed("starting the balancer's runtime"))?;
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .map_err(failed("binding the balancer to a loopback port"))?;
        let addr = listener
            .local_addr()
            .map_err(failed("the balancer's address"))?;
        let served = Arc::new(backends.iter().map(|_| AtomicU64::new(0)).collect());
        runtime.spawn(accept_loop(listener, backends.clone(), Arc::clone(&served)));
        Ok(Balancer {
            addr,
            backends,
            served,
            runtime: Some(runtime),
        })
    }

    /// The loopback port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections each backend (in the order given to [`Balancer::start`]) has been given so far.
    pub fn served(&self) -> Vec<(SocketAddr, u64)> {
        self.backends
            .iter()
            .zip(self.served.iter())
            .map(|(b, n)| (*b, n.load(Ordering::Relaxed)))
            .collect()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Waiting for the tasks to go is not allowed inside another runtime; there, let them go behind.
            if tokio::runtime::Handle::try_current().is_ok() {
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(Duration::from_secs(1));
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    backends: Vec<SocketAddr>,
    served: Arc<Vec<AtomicU64>>,
) {
    let backends: Arc<[SocketAddr]> = backends.into();
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(_) => {
                // Out of file descriptors or similar: transient; do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let first = next.fetch_add(1, Ordering::Relaxed);
        let (backends, served) = (Arc::clone(&backends), Arc::clone(&served));
        tokio::spawn(async move {
            let Some((index, backend)) = connect_from(&backends, first).await else {
                // Every backend is down: closing the client's connection is all a TCP balancer can say.
                return;
            };
            if let Some(n) = served.get(index) {
                n.fetch_add(1, Ordering::Relaxed);
            }
            // Small TLS records in both directions: without NODELAY, Nagle and delayed ACKs add 40 ms stalls.
            let _ = client.set_nodelay(true);
            let _ = backend.set_nodelay(true);
            let (mut client, mut backend) = (client, backend);
            // Either side closing or failing ends the pair; a reset from a killed node reaches the client
            // as the end of its connection, which is what it would see without a balancer.
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
        });
    }
}

/// Connects to the backend at `first` (modulo their number), or the next one that accepts; its index.
async fn connect_from(backends: &[SocketAddr], first: usize) -> Option<(usize, TcpStream)> {
    for k in 0..backends.len() {
        let index = (first + k) % backends.len();
        let addr = backends.get(index)?;
        if let Ok(Ok(stream)) =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
        {
            return Some((index, stream));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// A backend that answers every connection with its name followed by what the client sent.
    fn echo_backend(name: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                std::thread::spawn(move || {
                    let mut line = [0u8; 5];
                    conn.read_exact(&mut line).unwrap();
                    conn.write_all(name.as_bytes()).unwrap();
                    conn.write_all(&line).unwrap();
                });
            }
        });
        addr
    }

    /// A loopback address nobody listens on (bound, then closed).
    fn dead_backend() -> SocketAddr {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    /// Sends `hello` through the balancer; what comes back until the end of the connection.
    fn try_exchange(balancer: &Balancer, hello: &str) -> std::io::Result<String> {
        let mut conn = TcpStream::connect(balancer.addr())?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        conn.write_all(hello.as_bytes())?;
        let mut answer = String::new();
        conn.read_to_string(&mut answer)?;
        Ok(answer)
    }

    fn exchange(balancer: &Balancer, hello: &str) -> String {
        try_exchange(balancer, hello).unwrap()
    }

    #[test]
    fn connections_go_round_robin_and_skip_a_dead_backend() {
        let (one, dead, two) = (echo_backend("one:"), dead_backend(), echo_backend("two:"));
        let balancer = Balancer::start(vec![one, dead, two]).unwrap();
        let answers: Vec<String> = (0..6)
            .map(|i| exchange(&balancer, &format!("msg-{i}")))
            .collect();
        // The second and fifth connections were meant for the dead backend and went on to the next one; the
        // bytes arrived intact both ways.
        assert_eq!(
            answers,
            [
                "one:msg-0",
                "two:msg-1",
                "two:msg-2",
                "one:msg-3",
                "two:msg-4",
                "two:msg-5"
            ]
        );
        assert_eq!(
            balancer.served(),
            [(one, 2), (dead, 0), (two, 4)],
            "connections counted per backend"
        );
    }

    #[test]
    fn with_every_backend_dead_the_client_connection_is_closed() {
        let balancer = Balancer::start(vec![dead_backend(), dead_backend()]).unwrap();
        // Closed with our bytes unread, the socket may end in a reset rather than an orderly end.
        match try_exchange(&balancer, "hello") {
            Ok(answer) => assert_eq!(answer, ""),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
        assert!(balancer.served().iter().all(|(_, n)| *n == 0));
    }

    #[test]
    fn dropping_it_stops_listening() {
        let backend = echo_backend("one:");
        let balancer = Balancer::start(vec![backend]).unwrap();
        let addr = balancer.addr();
        assert_eq!(exchange(&balancer, "hello"), "one:hello");
        drop(balancer);
        assert!(TcpStream::connect(addr).is_err(), "still listening");
    }

    #[test]
    fn no_backends_is_an_error() {
        assert!(Balancer::start(Vec::new()).is_err());
    }
}
