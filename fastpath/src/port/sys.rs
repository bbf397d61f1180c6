//! Thin, safe wrappers over the Linux calls the real ports need.
//!
//! Each function here owns exactly one `unsafe` libc call (or a small fixed sequence of them)
//! and turns its C-style status into an [`io::Result`]. Nothing in this file knows about
//! packets, batches or port state: `tap` and `afpacket` build their logic on top. Interface
//! ioctls (`SIOC*IF*`) go through a short-lived `AF_INET` datagram socket in the calling
//! thread's network namespace, which is where the interface is looked up by name.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = libc::IFNAMSIZ - 1;

/// Turns a `-1`-on-error return value into an `io::Result`.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`check`], for calls returning `ssize_t`.
pub fn check_size(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// An `ifreq` with `name` filled in; rejects names the kernel would not accept.
pub fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() > IFNAME_MAX || name.bytes().any(|b| b == 0 || b == b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?}"),
        ));
    }
    // SAFETY: `ifreq` is a plain C struct (arrays and a union of integers); all-zero is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(ifr)
}

/// A control socket for interface ioctls, closed on drop.
fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the returned descriptor is owned by the `OwnedFd` below.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs one interface ioctl (`SIOCGIFFLAGS`, `SIOCSIFMTU`, ...) on `ifr`.
fn ifreq_ioctl(request: libc::c_ulong, ifr: &mut libc::ifreq) -> io::Result<()> {
    let sock = control_socket()?;
    // SAFETY: every request passed here reads and/or writes only the `ifreq` it is given, which
    // is a valid, exclusively borrowed struct for the duration of the call.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), request as _, ifr as *mut libc::ifreq) })?;
    Ok(())
}

/// The interface's flags (`IFF_UP`, `IFF_RUNNING`, ...).
pub fn if_flags(name: &str) -> io::Result<libc::c_int> {
    let mut ifr = ifreq_for(name)?;
    ifreq_ioctl(libc::SIOCGIFFLAGS, &mut ifr)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    Ok(libc::c_int::from(unsafe { ifr.ifr_ifru.ifru_flags }) & 0xffff)
}

/// Sets `IFF_UP` on the interface if it is not already set.
pub fn if_set_up(name: &str) -> io::Result<()> {
    let flags = if_flags(name)?;
    if flags & libc::IFF_UP != 0 {
        return Ok(());
    }
    let mut ifr = ifreq_for(name)?;
    ifr.ifr_ifru.ifru_flags = (flags | libc::IFF_UP) as libc::c_short;
    ifreq_ioctl(libc::SIOCSIFFLAGS, &mut ifr)
}

/// Sets the interface MTU.
pub fn if_set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let mut ifr = ifreq_for(name)?;
    ifr.ifr_ifru.ifru_mtu = mtu as libc::c_int;
    ifreq_ioctl(libc::SIOCSIFMTU, &mut ifr)
}

/// The interface MTU.
pub fn if_mtu(name: &str) -> io::Result<u32> {
    let mut ifr = ifreq_for(name)?;
    ifreq_ioctl(libc::SIOCGIFMTU, &mut ifr)?;
    // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member of the union.
    Ok(unsafe { ifr.ifr_ifru.ifru_mtu } as u32)
}

/// The interface index for `name` in the calling thread's namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let mut ifr = ifreq_for(name)?;
    ifreq_ioctl(libc::SIOCGIFINDEX, &mut ifr)?;
    // SAFETY: SIOCGIFINDEX filled the `ifru_ifindex` member of the union.
    Ok(unsafe { ifr.ifr_ifru.ifru_ifindex } as u32)
}

/// The name of interface `index`, or `None` if no such interface exists.
pub fn if_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IFNAMSIZ];
    // SAFETY: `buf` has IFNAMSIZ bytes, as if_indextoname(3) requires.
    let ret = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if ret.is_null() {
        return None;
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated string into `buf`.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Opens `/dev/net/tun` and attaches it to TAP `name` (created unless it already exists as a
/// persistent device) with the given `IFF_*` flags. The descriptor is non-blocking.
pub fn tun_attach(name: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: open(2) with a static NUL-terminated path; the descriptor is wrapped below.
    let fd = check(unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut ifr = ifreq_for(name)?;
    ifr.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: TUNSETIFF reads and updates the `ifreq` we pass, valid for the call.
    check(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETIFF,
            &mut ifr as *mut libc::ifreq,
        )
    })?;
    Ok(fd)
}

/// `TUNSETVNETHDRSZ`: the size of the virtio-net header in front of every frame.
pub fn tun_set_vnet_hdr_size(fd: RawFd, size: libc::c_int) -> io::Result<()> {
    // SAFETY: TUNSETVNETHDRSZ reads one `int` through the pointer, valid for the call.
    check(unsafe { libc::ioctl(fd, libc::TUNSETVNETHDRSZ, &size as *const libc::c_int) })?;
    Ok(())
}

/// `TUNSETOFFLOAD`: which offloads (`TUN_F_*`) the reader accepts from the kernel.
pub fn tun_set_offload(fd: RawFd, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes the flags by value, not through a pointer.
    check(unsafe { libc::ioctl(fd, libc::TUNSETOFFLOAD, flags as libc::c_ulong) })?;
    Ok(())
}

/// A non-blocking, close-on-exec `AF_PACKET`/`SOCK_RAW` socket that receives nothing until
/// it is bound (protocol 0).
pub fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the descriptor is wrapped below.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Binds a packet socket to all protocols on interface `ifindex`.
pub fn packet_bind(fd: RawFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: `sockaddr_ll` is a plain C struct; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: the address points at a valid `sockaddr_ll` of the length given.
    check(unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// `setsockopt` with a plain-data value.
pub fn set_sockopt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: the option value points at a `T` valid for reads of its size for the call.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Adds a promiscuous-mode membership on `ifindex`; the kernel drops it when the socket closes,
/// so the interface returns to its previous mode without our help.
pub fn packet_add_promisc(fd: RawFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: `packet_mreq` is a plain C struct; all-zero is valid.
    let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
    mreq.mr_ifindex = ifindex as i32;
    mreq.mr_type = libc::PACKET_MR_PROMISC as u16;
    set_sockopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
}

/// `read(2)` into `buf`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call.
    check_size(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)` of `buf`.
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the call.
    check_size(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// `writev(2)` of two buffers (a header, then the frame).
pub fn writev2(fd: RawFd, a: &[u8], b: &[u8]) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: a.as_ptr() as *mut libc::c_void,
            iov_len: a.len(),
        },
        libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        },
    ];
    // SAFETY: both iovecs describe borrowed buffers valid for reads for the call; writev
    // does not write through them.
    check_size(unsafe { libc::writev(fd, iov.as_ptr(), 2) })
}

/// Sets a socket buffer size, forcing past `rmem_max`/`wmem_max` when privileged.
pub fn set_socket_buffer(fd: RawFd, force: libc::c_int, plain: libc::c_int, bytes: libc::c_int) {
    if set_sockopt(fd, libc::SOL_SOCKET, force, &bytes).is_err() {
        // Best effort: without CAP_NET_ADMIN the kernel clamps to its maximum.
        let _ = set_sockopt(fd, libc::SOL_SOCKET, plain, &bytes);
    }
}

/// The `PACKET_AUXDATA` control message of a received message, if present.
pub fn packet_auxdata(msg: &libc::msghdr) -> Option<libc::tpacket_auxdata> {
    // SAFETY: `msg` is a msghdr whose control pointer/length were filled by recvmmsg(2) (or
    // are null/zero); the CMSG_* macros only walk within `msg_controllen` bytes.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let h = &*c;
            if h.cmsg_level == libc::SOL_PACKET
                && h.cmsg_type == libc::PACKET_AUXDATA
                && h.cmsg_len as usize
                    >= libc::CMSG_LEN(std::mem::size_of::<libc::tpacket_auxdata>() as u32) as usize
            {
                return Some(std::ptr::read_unaligned(
                    libc::CMSG_DATA(c).cast::<libc::tpacket_auxdata>(),
                ));
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

/// Errors that mean the device behind a descriptor is gone or down.
pub fn is_gone_error(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENODEV | libc::ENXIO | libc::ENETDOWN | libc::EBADFD)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_rejects_bad_names() {
        assert!(ifreq_for("").is_err());
        assert!(ifreq_for("0123456789abcdef").is_err());
        assert!(ifreq_for("a/b").is_err());
        let ifr = ifreq_for("eth0").unwrap();
        assert_eq!(
            ifr.ifr_name[..5],
            [b'e' as _, b't' as _, b'h' as _, b'0' as _, 0]
        );
    }

    #[test]
    fn loopback_lookups() {
        let idx = if_index("lo").unwrap();
        assert_eq!(if_name(idx).as_deref(), Some("lo"));
        assert!(if_flags("lo").unwrap() & libc::IFF_LOOPBACK != 0);
        assert!(if_mtu("lo").unwrap() >= 1500);
        assert!(if_index("vsw-no-such-if").is_err());
    }
}
