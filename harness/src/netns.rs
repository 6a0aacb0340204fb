//! Network namespaces as bind-mounted files, and how to work inside one from a multi-threaded
//! async process without moving the caller: on a short-lived thread that joined the namespace
//! (research/rust-ecosystem.md §2, pattern A), which opens netlink sockets there or starts child
//! processes, which inherit its namespace; or in a child that joins it between fork and exec.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use rtnetlink::sys::{Socket, TokioSocket, protocols::NETLINK_ROUTE};

/// A network namespace kept alive by a bind mount at `path` (and by our open fd).
#[derive(Debug)]
pub struct Netns {
    name: String,
    path: PathBuf,
    fd: OwnedFd,
    /// Whether we created the bind mount and so must remove it.
    owned: bool,
}

impl Netns {
    /// Creates a fresh namespace and bind-mounts it onto `path` (created as an empty file). The
    /// calling thread's namespace is never changed: the work happens on a throwaway thread.
    pub fn create(name: &str, path: &Path) -> io::Result<Netns> {
        File::create(path)?;
        let target = path.to_path_buf();
        let mounted = std::thread::spawn(move || -> io::Result<()> {
            unshare(CloneFlags::CLONE_NEWNET)?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )?;
            Ok(())
        })
        .join()
        .map_err(|_| io::Error::other("netns creation thread panicked"))?;
        if let Err(e) = mounted {
            let _ = std::fs::remove_file(path);
            return Err(io::Error::new(
                e.kind(),
                format!("creating netns {name} at {}: {e}", path.display()),
            ));
        }
        let fd = File::open(path)?.into();
        let netns = Netns {
            name: name.to_string(),
            path: path.to_path_buf(),
            fd,
            owned: true,
        };
        netns.run(bring_loopback_up)??;
        Ok(netns)
    }

    /// Opens an existing namespace file (e.g. `/proc/self/ns/net` or a plugin-provided path)
    /// without taking ownership of it.
    pub fn open(name: &str, path: &Path) -> io::Result<Netns> {
        Ok(Netns {
            name: name.to_string(),
            path: path.to_path_buf(),
            fd: File::open(path)?.into(),
            owned: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bind-mount path: what a runtime passes as `CNI_NETNS`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Runs `f` on a new OS thread that has joined this namespace; nothing else ever runs on
    /// that thread. For sysctls, sockets and processes started from inside.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| -> io::Result<T> {
                    setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET)?;
                    Ok(f())
                })
                .join()
                .map_err(|_| io::Error::other("netns worker thread panicked"))?
        })
    }

    /// A netlink route socket bound to this namespace, handed to rtnetlink. Must be called
    /// inside a tokio runtime (the connection task is spawned on it).
    pub fn handle(&self) -> io::Result<rtnetlink::Handle> {
        let socket = self.run(|| Socket::new(NETLINK_ROUTE))??;
        socket.set_non_blocking(true)?;
        // SAFETY: the fd comes straight from a Socket we own and give up here.
        let tokio_socket = unsafe { TokioSocket::from_raw_fd(socket.into_raw_fd()) };
        let (connection, handle, _) = rtnetlink::from_socket(tokio_socket);
        tokio::spawn(connection);
        Ok(handle)
    }

    /// Makes `command` join this namespace in the child, between fork and exec, so which thread
    /// spawns it never matters (a tracer must start its tracee from its own thread).
    pub fn enter_on_spawn(&self, command: &mut Command) -> io::Result<()> {
        let fd = self.fd.try_clone()?;
        // SAFETY: setns is a single async-signal-safe syscall; `fd` is moved into the closure and
        // stays open in the child until exec (it is close-on-exec).
        unsafe {
            command.pre_exec(move || {
                if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(())
    }

    /// Unmounts and removes the namespace file. The namespace itself disappears, with every
    /// link in it, once no process and no fd refers to it any more.
    pub fn remove(mut self) -> io::Result<()> {
        self.remove_mount()
    }

    fn remove_mount(&mut self) -> io::Result<()> {
        if !self.owned {
            return Ok(());
        }
        self.owned = false;
        match umount2(&self.path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(e.into()),
        }
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.remove_mount();
    }
}

/// Brings `lo` up the same way a container runtime does, so routes to local addresses work.
fn bring_loopback_up() -> io::Result<()> {
    // SIOCSIFFLAGS via a datagram socket: cheap, no netlink connection needed for one flag.
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: valid socket and a zero-initialised ifreq naming "lo". The request's type is
    // the C library's (`as _`): unsigned long in glibc, int in musl.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) != 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
