//! Raw Ethernet frames sent from inside a test's network namespace (AF_PACKET).
//!
//! The kernel's own stack cannot produce malformed frames, SYN floods with a million source
//! ports or MAC floods, so the reliability tests write frames themselves. A socket belongs to
//! the namespace it was created in, whatever thread later uses it: [`RawSocket::open`] creates
//! it on a short-lived thread that has joined the namespace (`setns` changes only the calling
//! thread), so the test process itself never leaves the root namespace and nothing is ever
//! sent outside the namespaces the test created.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Most frames one [`RawSocket::send_burst`] system call carries.
pub const MAX_BURST: usize = 64;

/// An AF_PACKET socket bound to one interface of one namespace.
#[derive(Debug)]
pub struct RawSocket {
    fd: OwnedFd,
}

/// `ETH_P_ALL` in network byte order, as AF_PACKET wants it.
fn eth_p_all() -> u16 {
    (libc::ETH_P_ALL as u16).to_be()
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl RawSocket {
    /// Opens a socket on interface `ifname` inside namespace `netns` (a name under
    /// `/var/run/netns`, as `ip netns add` creates).
    pub fn open(netns: &str, ifname: &str) -> io::Result<RawSocket> {
        let ns_path = format!("/var/run/netns/{netns}");
        let ifname = std::ffi::CString::new(ifname).map_err(io::Error::other)?;
        std::thread::scope(|s| {
            s.spawn(move || -> io::Result<RawSocket> {
                let ns = std::fs::File::open(&ns_path)?;
                // SAFETY: setns on a valid namespace fd; it affects only this thread, which
                // ends right after creating the socket.
                cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
                // SAFETY: plain socket(2) call; the result is checked before use.
                let fd = cvt(unsafe {
                    libc::socket(
                        libc::AF_PACKET,
                        libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                        i32::from(eth_p_all()),
                    )
                })?;
                // SAFETY: `fd` is a fresh descriptor owned by nobody else.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                // SAFETY: `ifname` is a NUL-terminated string.
                let index = unsafe { libc::if_nametoindex(ifname.as_ptr()) };
                if index == 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
                let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
                addr.sll_family = libc::AF_PACKET as u16;
                addr.sll_protocol = eth_p_all();
                addr.sll_ifindex = index as i32;
                // SAFETY: `addr` is a valid sockaddr_ll and its size is passed.
                cvt(unsafe {
                    libc::bind(
                        fd.as_raw_fd(),
                        (&raw const addr).cast(),
                        std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                    )
                })?;
                Ok(RawSocket { fd })
            })
            .join()
            .map_err(|_| io::Error::other("namespace thread panicked"))?
        })
    }

    /// Sends one frame as it is (no padding, no checksums).
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: the pointer and length describe `frame`, valid for the call.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != frame.len() {
            return Err(io::Error::other(format!(
                "short send: {n} of {} bytes",
                frame.len()
            )));
        }
        Ok(())
    }

    /// Sends `frames` with one `sendmmsg(2)` call per up to [`MAX_BURST`] frames; returns how
    /// many the kernel took. Stops at the first frame the device refuses (a full queue:
    /// `ENOBUFS`/`EAGAIN`), so the count is what was really offered to the switch.
    pub fn send_burst(&self, frames: &[&[u8]]) -> io::Result<usize> {
        let mut sent = 0;
        for chunk in frames.chunks(MAX_BURST) {
            let mut iovs: [libc::iovec; MAX_BURST] = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; MAX_BURST];
            // SAFETY: mmsghdr is plain data; all-zero (null name, no control) is valid.
            let mut msgs: [libc::mmsghdr; MAX_BURST] = unsafe { std::mem::zeroed() };
            for (i, f) in chunk.iter().enumerate() {
                iovs[i] = libc::iovec {
                    iov_base: f.as_ptr().cast_mut().cast(),
                    iov_len: f.len(),
                };
                msgs[i].msg_hdr.msg_iov = &raw mut iovs[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: `msgs[..chunk.len()]` point at iovecs describing frames borrowed for
            // the call; the kernel only reads them (and writes `msg_len`).
            let n = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    chunk.len() as libc::c_uint,
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::ENOBUFS | libc::EAGAIN) => Ok(sent),
                    _ if sent > 0 => Ok(sent),
                    _ => Err(e),
                };
            }
            sent += n as usize;
            if (n as usize) < chunk.len() {
                break;
            }
        }
        Ok(sent)
    }

    /// Sends a frame, retrying for up to a second while the device queue is full (ENOBUFS),
    /// so a fast sender is paced by the device rather than losing frames before the switch.
    pub fn send_paced(&self, frame: &[u8]) -> io::Result<()> {
        let start = std::time::Instant::now();
        loop {
            match self.send(frame) {
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOBUFS)
                        && start.elapsed() < std::time::Duration::from_secs(1) =>
                {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
                other => return other,
            }
        }
    }
}
