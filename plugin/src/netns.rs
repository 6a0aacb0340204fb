//! `CNI_NETNS`: opening and checking the namespace file, and running code inside it.
//!
//! Work inside `CNI_NETNS` (opening its route socket, a sysctl write) moves the main thread in
//! and straight back, as the Go plugins' `ns.Do` does, without the cost of a thread. Nothing
//! else runs meanwhile: the plugin's only other thread feeds a delegate's stdin, and delegates
//! are started strictly between such steps, from the runtime's namespace. Sockets stay bound to
//! the namespace they were opened in.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use nix::sched::{CloneFlags, setns};

/// An open network namespace file.
#[derive(Debug)]
pub struct NetnsFile {
    fd: OwnedFd,
}

#[derive(Debug)]
pub enum OpenError {
    /// Nothing at that path.
    Missing,
    /// Something that is not a network namespace (a regular file left behind after the
    /// namespace was unmounted, a directory, ...).
    NotANetns,
    Io(io::Error),
}

impl NetnsFile {
    pub fn open(path: &str) -> Result<NetnsFile, OpenError> {
        // O_NONBLOCK: a FIFO at that path must not hang the plugin.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => OpenError::Missing,
                _ => OpenError::Io(e),
            })?;
        if !is_network_namespace(&file) {
            return Err(OpenError::NotANetns);
        }
        Ok(NetnsFile { fd: file.into() })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Whether this is the namespace the plugin itself runs in.
    pub fn is_plugin_namespace(&self) -> io::Result<bool> {
        let own = std::fs::metadata("/proc/thread-self/ns/net")?;
        let this = File::from(self.fd.try_clone()?).metadata()?;
        Ok(own.dev() == this.dev() && own.ino() == this.ino())
    }

    /// Runs `f` with the calling thread inside this namespace, then moves it back. Err when
    /// either move fails. The way back needs no right the way in did not, so it is not expected
    /// to fail; if it did, the command fails, its rollback's netlink requests still reach the
    /// right namespaces (sockets are bound to theirs), but an IPAM release would be started
    /// from inside `CNI_NETNS`.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> io::Result<T> {
        let home = File::open("/proc/thread-self/ns/net")?;
        setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET)?;
        let outcome = f();
        setns(home.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| {
            io::Error::other(format!(
                "cannot return to the runtime's network namespace: {e}"
            ))
        })?;
        Ok(outcome)
    }
}

/// Asks nsfs which kind of namespace the file is (Linux 4.11+); any other file answers ENOTTY.
fn is_network_namespace(file: &File) -> bool {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), libc::NS_GET_NSTYPE) };
    kind == libc::CLONE_NEWNET
}
