//! The listening socket: bound the way Python's `HTTPServer.server_bind` binds it, closed the
//! moment a shutdown starts and listening again on the next `serve_forever`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;

use super::HttpServer;

/// `HttpServer`'s listening socket, and whether a shutdown closed it.
#[derive(Debug)]
pub(super) struct Listener {
    pub(super) socket: Arc<TcpListener>,
    pub(super) closed: bool,
}

/// A listening socket that `shutdown` closed, listening again at `local`, registered with the
/// runtime anew: tokio keeps the hang-up the shutdown caused as readiness that never clears.
///
/// A socket bound to port 0 loses its port when it stops listening: it is bound again to the
/// one it had (a socket bound to a given port keeps it, and refuses this with `EINVAL`). Should
/// another socket have taken that port meanwhile, this fails with `AddrInUse`.
pub(super) fn reopen(socket: &TcpListener, local: SocketAddr) -> io::Result<TcpListener> {
    let raw = socket2::SockRef::from(socket);
    match raw.bind(&local.into()) {
        Err(err) if err.kind() != io::ErrorKind::InvalidInput => return Err(err),
        _ => {}
    }
    raw.listen(LISTEN_BACKLOG)?;
    let fresh = std::net::TcpListener::from(raw.try_clone()?);
    fresh.set_nonblocking(true)?;
    TcpListener::from_std(fresh)
}

/// `SO_EXCLUSIVEADDRUSE`: no other socket may bind this port, `SO_REUSEADDR` or not.
#[cfg(windows)]
#[allow(unsafe_code)]
fn exclusive_address_use(socket: &socket2::Socket) -> io::Result<()> {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{
        SO_EXCLUSIVEADDRUSE, SOCKET, SOCKET_ERROR, SOL_SOCKET, setsockopt,
    };
    let raw = SOCKET::try_from(socket.as_raw_socket()).map_err(io::Error::other)?;
    let on: i32 = 1;
    // SAFETY: `raw` is the open socket borrowed from `socket` for the call, and `optval`
    // points to an `i32` that lives through it, with its size as `optlen`.
    let done = unsafe {
        setsockopt(
            raw,
            SOL_SOCKET,
            SO_EXCLUSIVEADDRUSE,
            (&raw const on).cast::<u8>(),
            std::mem::size_of::<i32>() as i32,
        )
    };
    if done == SOCKET_ERROR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The listen backlog: the kernel caps it at `net.core.somaxconn`.
pub(super) const LISTEN_BACKLOG: i32 = 1024;

impl<S> HttpServer<S> {
    pub(super) fn listener(&self) -> std::sync::MutexGuard<'_, Listener> {
        self.listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The listener to accept on, listening again if a shutdown closed it.
    pub(super) fn listen_again(&self) -> io::Result<Arc<TcpListener>> {
        let mut listener = self.listener();
        if listener.closed {
            listener.socket = Arc::new(reopen(&listener.socket, self.local)?);
            listener.closed = false;
        }
        Ok(listener.socket.clone())
    }

    /// Closes the listening socket while the server drains, so that new clients are refused
    /// at once (as when Python's process exits) instead of waiting in the backlog; the next
    /// `serve_forever` listens again on the same address. Only Linux can stop a socket from
    /// listening; elsewhere new clients wait until the server is dropped.
    pub(super) fn stop_listening(&self) {
        let mut listener = self.listener();
        if socket2::SockRef::from(&*listener.socket)
            .shutdown(std::net::Shutdown::Both)
            .is_ok()
        {
            listener.closed = true;
        }
    }
}

/// Creates the listening socket the way Python's `HTTPServer.server_bind` does, with a
/// production backlog.
pub(super) fn bind_socket(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Windows' `SO_REUSEADDR` lets another socket bind the same port and take its
    // connections; there the port is held exclusively instead (Windows rebinds a port whose
    // old connections linger without either).
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    #[cfg(windows)]
    exclusive_address_use(&socket)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // Python's DualStackServer: errors are ignored there too.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

pub(super) fn server_name_for(ip: IpAddr) -> String {
    if ip.is_loopback() {
        return "localhost".to_owned();
    }
    if ip.is_unspecified() {
        // Read once at bind time; procfs answers from memory.
        if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            let name = name.trim();
            if !name.is_empty() {
                return name.to_owned();
            }
        }
    }
    ip.to_string()
}

pub(super) fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
