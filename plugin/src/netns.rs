//! `CNI_NETNS`: opening and checking the namespace file, and running code inside it.
//!
//! `setns` moves only the calling thread, so work inside the namespace happens on a short-lived
//! thread that joins it and dies (research/rust-ecosystem.md §2): the main thread, and with it the
//! runtime's namespace, is never touched.

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

    /// Runs `f` on a new thread that joined this namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| -> io::Result<T> {
                    setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET)?;
                    Ok(f())
                })
                .join()
                .map_err(|_| io::Error::other("thread inside CNI_NETNS panicked"))?
        })
    }
}

/// Asks nsfs which kind of namespace the file is (Linux 4.11+); any other file answers ENOTTY.
fn is_network_namespace(file: &File) -> bool {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), libc::NS_GET_NSTYPE) };
    kind == libc::CLONE_NEWNET
}
