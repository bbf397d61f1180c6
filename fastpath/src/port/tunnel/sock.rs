//! The socket calls behind tunnel endpoints: UDP sockets (VXLAN, Geneve) and raw IP sockets
//! (GRE), batched receive with the outer addresses, TOS and TTL from control messages, and
//! batched send with per-message TOS and TTL. Each `unsafe` block is one libc call or the
//! control-message walk around it.

use crate::packet::Packet;
use crate::port::BATCH_SIZE;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `v` is a valid int for the duration of the call; the kernel copies it.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn socket(family: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned by the OwnedFd below.
    let fd = check(unsafe {
        libc::socket(family, ty | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, proto)
    })?;
    // SAFETY: `fd` was just returned by socket(2) and belongs to nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Large buffers: a burst of 64 KB TCP windows arrives as hundreds of datagrams at once.
const SOCK_BUF: libc::c_int = 8 << 20;

fn big_buffers(fd: RawFd) {
    // Best effort: FORCE needs CAP_NET_ADMIN; the plain option is capped by rmem_max.
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if setsockopt_int(fd, libc::SOL_SOCKET, force, SOCK_BUF).is_err() {
            let _ = setsockopt_int(fd, libc::SOL_SOCKET, plain, SOCK_BUF);
        }
    }
}

fn ask_for_rx_metadata(fd: RawFd, v6: bool) -> io::Result<()> {
    setsockopt_int(fd, libc::SOL_IP, libc::IP_PKTINFO, 1)?;
    setsockopt_int(fd, libc::SOL_IP, libc::IP_RECVTOS, 1)?;
    setsockopt_int(fd, libc::SOL_IP, libc::IP_RECVTTL, 1)?;
    if v6 {
        setsockopt_int(fd, libc::SOL_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
        setsockopt_int(fd, libc::SOL_IPV6, libc::IPV6_RECVTCLASS, 1)?;
        setsockopt_int(fd, libc::SOL_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
    }
    Ok(())
}

/// A receiving UDP socket bound to `port` on every address: dual-stack IPv6 when the host has
/// IPv6, else IPv4. Returns the socket and whether it is IPv6.
pub fn udp_rx(port: u16) -> io::Result<(OwnedFd, bool)> {
    match udp_rx6(port) {
        Ok(s) => Ok((s, true)),
        Err(_) => {
            let s = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
            let fd = s.as_raw_fd();
            let sin = sockaddr_v4(Ipv4Addr::UNSPECIFIED, port);
            // SAFETY: `sin` is a valid sockaddr_in of the length given.
            check(unsafe {
                libc::bind(
                    fd,
                    (&sin as *const libc::sockaddr_in).cast(),
                    core::mem::size_of_val(&sin) as u32,
                )
            })?;
            ask_for_rx_metadata(fd, false)?;
            big_buffers(fd);
            Ok((s, false))
        }
    }
}

fn udp_rx6(port: u16) -> io::Result<OwnedFd> {
    let s = socket(libc::AF_INET6, libc::SOCK_DGRAM, 0)?;
    let fd = s.as_raw_fd();
    setsockopt_int(fd, libc::SOL_IPV6, libc::IPV6_V6ONLY, 0)?;
    let sin6 = sockaddr_v6(Ipv6Addr::UNSPECIFIED, port);
    // SAFETY: `sin6` is a valid sockaddr_in6 of the length given.
    check(unsafe {
        libc::bind(
            fd,
            (&sin6 as *const libc::sockaddr_in6).cast(),
            core::mem::size_of_val(&sin6) as u32,
        )
    })?;
    ask_for_rx_metadata(fd, true)?;
    big_buffers(fd);
    Ok(s)
}

/// A sending UDP socket on an ephemeral port (its port is the outer source port), of the
/// receiving socket's family, with the outer checksum (IPv4 only: IPv6 UDP always has one)
/// and the don't-fragment policy fixed.
pub fn udp_tx(v6: bool, csum: bool, df: bool) -> io::Result<OwnedFd> {
    let s = socket(
        if v6 { libc::AF_INET6 } else { libc::AF_INET },
        libc::SOCK_DGRAM,
        0,
    )?;
    let fd = s.as_raw_fd();
    if v6 {
        setsockopt_int(fd, libc::SOL_IPV6, libc::IPV6_V6ONLY, 0)?;
        let pmtu = if df {
            libc::IPV6_PMTUDISC_DO
        } else {
            libc::IPV6_PMTUDISC_DONT
        };
        setsockopt_int(fd, libc::SOL_IPV6, libc::IPV6_MTU_DISCOVER, pmtu)?;
    }
    let pmtu = if df {
        libc::IP_PMTUDISC_DO
    } else {
        libc::IP_PMTUDISC_DONT
    };
    setsockopt_int(fd, libc::SOL_IP, libc::IP_MTU_DISCOVER, pmtu)?;
    if !csum {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_NO_CHECK, 1)?;
    }
    big_buffers(fd);
    // Bind now so the source port is fixed from the first send.
    if v6 {
        let sin6 = sockaddr_v6(Ipv6Addr::UNSPECIFIED, 0);
        // SAFETY: `sin6` is a valid sockaddr_in6 of the length given.
        check(unsafe {
            libc::bind(
                fd,
                (&sin6 as *const libc::sockaddr_in6).cast(),
                core::mem::size_of_val(&sin6) as u32,
            )
        })?;
    } else {
        let sin = sockaddr_v4(Ipv4Addr::UNSPECIFIED, 0);
        // SAFETY: `sin` is a valid sockaddr_in of the length given.
        check(unsafe {
            libc::bind(
                fd,
                (&sin as *const libc::sockaddr_in).cast(),
                core::mem::size_of_val(&sin) as u32,
            )
        })?;
    }
    Ok(s)
}

/// A raw IPv4 socket for GRE (protocol 47): receives every GRE packet of the namespace with
/// its IP header; sends GRE header + frame, the kernel adding the IP header. A socket only
/// used for sending gets a filter that drops everything it would receive.
pub fn gre_raw(receive: bool, df: bool) -> io::Result<OwnedFd> {
    let s = socket(
        libc::AF_INET,
        libc::SOCK_RAW,
        libc::c_int::from(crate::wire::gre::IPPROTO_GRE),
    )?;
    let fd = s.as_raw_fd();
    let pmtu = if df {
        libc::IP_PMTUDISC_DO
    } else {
        libc::IP_PMTUDISC_DONT
    };
    setsockopt_int(fd, libc::SOL_IP, libc::IP_MTU_DISCOVER, pmtu)?;
    big_buffers(fd);
    if receive {
        setsockopt_int(fd, libc::SOL_IP, libc::IP_PKTINFO, 1)?;
    } else {
        let mut drop_all = [libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0,
        }]; // BPF_RET|BPF_K 0
        let prog = libc::sock_fprog {
            len: 1,
            filter: drop_all.as_mut_ptr(),
        };
        // SAFETY: `prog` points at a valid one-instruction filter for the call; the kernel
        // copies it.
        check(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&prog as *const libc::sock_fprog).cast(),
                core::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        })?;
    }
    Ok(s)
}

fn sockaddr_v4(a: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(a).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn sockaddr_v6(a: Ipv6Addr, port: u16) -> libc::sockaddr_in6 {
    libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: port.to_be(),
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr {
            s6_addr: a.octets(),
        },
        sin6_scope_id: 0,
    }
}

/// What the kernel said about one received datagram.
#[derive(Clone, Copy, Debug)]
pub struct RxInfo {
    /// Bytes received (the UDP payload, or the whole IP packet on a raw socket).
    pub len: usize,
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination (the local address it was sent to), if the kernel said.
    pub dst: Option<IpAddr>,
    pub tos: u8,
    pub ttl: u8,
}

impl Default for RxInfo {
    fn default() -> Self {
        RxInfo {
            len: 0,
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: None,
            tos: 0,
            ttl: 0,
        }
    }
}

fn unmap(a: Ipv6Addr) -> IpAddr {
    match a.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(a),
    }
}

type CmsgBuf = [u64; 16];

/// Receives up to `bufs.len()` (at most [`BATCH_SIZE`]) datagrams into the packets' receive
/// space with one `recvmmsg`; fills `info` for each. Never blocks.
pub fn recv_batch(fd: RawFd, bufs: &mut [Packet], info: &mut [RxInfo]) -> io::Result<usize> {
    let n = bufs.len().min(info.len()).min(BATCH_SIZE);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: sockaddr_in6 is a plain C struct; all-zero is a valid value.
    let mut names: [libc::sockaddr_in6; BATCH_SIZE] = unsafe { core::mem::zeroed() };
    let mut cmsgs: [CmsgBuf; BATCH_SIZE] = [[0; 16]; BATCH_SIZE];
    // SAFETY: as above.
    let mut iovs: [libc::iovec; BATCH_SIZE] = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; BATCH_SIZE] = unsafe { core::mem::zeroed() };
    for i in 0..n {
        let space = bufs[i].rx_space();
        iovs[i] = libc::iovec {
            iov_base: space.as_mut_ptr().cast(),
            iov_len: space.len(),
        };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&mut names[i] as *mut libc::sockaddr_in6).cast();
        h.msg_namelen = core::mem::size_of::<libc::sockaddr_in6>() as u32;
        h.msg_iov = &mut iovs[i];
        h.msg_iovlen = 1;
        h.msg_control = cmsgs[i].as_mut_ptr().cast();
        h.msg_controllen = core::mem::size_of::<CmsgBuf>();
    }
    // SAFETY: every header points at buffers (name, iovec → the packet's receive space,
    // control) that stay alive and exclusively borrowed for the call; `n` headers are set.
    let r = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            n as u32,
            libc::MSG_DONTWAIT,
            core::ptr::null_mut(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
            _ => Err(e),
        };
    }
    let got = r as usize;
    for i in 0..got {
        let mut out = RxInfo {
            len: hdrs[i].msg_len as usize,
            ..RxInfo::default()
        };
        let name = &names[i];
        out.src = if name.sin6_family == libc::AF_INET6 as libc::sa_family_t {
            unmap(Ipv6Addr::from(name.sin6_addr.s6_addr))
        } else {
            // SAFETY: an AF_INET name is a sockaddr_in, which fits in the sockaddr_in6 storage.
            let sin = unsafe { &*(name as *const libc::sockaddr_in6).cast::<libc::sockaddr_in>() };
            IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
        };
        read_cmsgs(&hdrs[i].msg_hdr, &mut out);
        info[i] = out;
    }
    Ok(got)
}

fn read_cmsgs(h: &libc::msghdr, out: &mut RxInfo) {
    // SAFETY: `h` is a header the kernel filled by recvmmsg; its control buffer and length
    // describe valid memory, and the CMSG_* walk stays within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let int = || core::ptr::read_unaligned(data.cast::<libc::c_int>());
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::SOL_IP, libc::IP_PKTINFO) => {
                    let p = core::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    out.dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr))));
                }
                (libc::SOL_IP, libc::IP_TOS) => out.tos = *data,
                (libc::SOL_IP, libc::IP_TTL) => out.ttl = int() as u8,
                (libc::SOL_IPV6, libc::IPV6_PKTINFO) => {
                    let p = core::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    out.dst = Some(unmap(Ipv6Addr::from(p.ipi6_addr.s6_addr)));
                }
                (libc::SOL_IPV6, libc::IPV6_TCLASS) => out.tos = int() as u8,
                (libc::SOL_IPV6, libc::IPV6_HOPLIMIT) => out.ttl = int() as u8,
                _ => {}
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
}

/// One datagram to send: a tunnel header and the inner frame (two pieces, no copy).
#[derive(Clone, Copy, Debug)]
pub struct TxMsg<'a> {
    pub hdr: &'a [u8],
    pub frame: &'a [u8],
    pub dst: IpAddr,
    /// Destination UDP port (0 on raw sockets).
    pub port: u16,
    pub tos: u8,
    pub ttl: u8,
}

/// Sends `msgs` (at most [`BATCH_SIZE`]) with one `sendmmsg` on a socket of family `v6`
/// (IPv4 destinations go v4-mapped on an IPv6 socket). Returns how many the kernel took; the
/// caller retries after skipping the one that failed.
pub fn send_batch(fd: RawFd, v6: bool, msgs: &[TxMsg<'_>]) -> io::Result<usize> {
    let n = msgs.len().min(BATCH_SIZE);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: sockaddr_in6 is a plain C struct; all-zero is a valid value.
    let mut names6: [libc::sockaddr_in6; BATCH_SIZE] = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let mut names4: [libc::sockaddr_in; BATCH_SIZE] = unsafe { core::mem::zeroed() };
    let mut cmsgs: [CmsgBuf; BATCH_SIZE] = [[0; 16]; BATCH_SIZE];
    // SAFETY: as above.
    let mut iovs: [[libc::iovec; 2]; BATCH_SIZE] = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; BATCH_SIZE] = unsafe { core::mem::zeroed() };
    for (i, m) in msgs[..n].iter().enumerate() {
        iovs[i] = [
            libc::iovec {
                iov_base: m.hdr.as_ptr() as *mut libc::c_void,
                iov_len: m.hdr.len(),
            },
            libc::iovec {
                iov_base: m.frame.as_ptr() as *mut libc::c_void,
                iov_len: m.frame.len(),
            },
        ];
        let v4_dst = match m.dst {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) => a.to_ipv4_mapped(),
        };
        let h = &mut hdrs[i].msg_hdr;
        if v6 {
            let a = match m.dst {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            names6[i] = sockaddr_v6(a, m.port);
            h.msg_name = (&mut names6[i] as *mut libc::sockaddr_in6).cast();
            h.msg_namelen = core::mem::size_of::<libc::sockaddr_in6>() as u32;
        } else {
            names4[i] = sockaddr_v4(v4_dst.unwrap_or(Ipv4Addr::UNSPECIFIED), m.port);
            h.msg_name = (&mut names4[i] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = core::mem::size_of::<libc::sockaddr_in>() as u32;
        }
        h.msg_iov = iovs[i].as_mut_ptr();
        h.msg_iovlen = 2;
        h.msg_control = cmsgs[i].as_mut_ptr().cast();
        h.msg_controllen = core::mem::size_of::<CmsgBuf>();
        let (level, tos_ty, ttl_ty) = if v4_dst.is_some() {
            (libc::SOL_IP, libc::IP_TOS, libc::IP_TTL)
        } else {
            (libc::SOL_IPV6, libc::IPV6_TCLASS, libc::IPV6_HOPLIMIT)
        };
        // SAFETY: the control buffer is 128 bytes, room for two int-sized messages; the
        // CMSG_* walk is bounded by the msg_controllen set above, then shrunk to what was used.
        unsafe {
            let mut used = 0;
            let mut c = libc::CMSG_FIRSTHDR(h);
            for (ty, v) in [(tos_ty, m.tos), (ttl_ty, m.ttl)] {
                if c.is_null() {
                    break;
                }
                (*c).cmsg_level = level;
                (*c).cmsg_type = ty;
                (*c).cmsg_len = libc::CMSG_LEN(core::mem::size_of::<libc::c_int>() as u32) as _;
                core::ptr::write_unaligned(
                    libc::CMSG_DATA(c).cast::<libc::c_int>(),
                    libc::c_int::from(v),
                );
                used += libc::CMSG_SPACE(core::mem::size_of::<libc::c_int>() as u32) as usize;
                c = libc::CMSG_NXTHDR(h, c);
            }
            h.msg_controllen = used;
        }
    }
    // SAFETY: every header points at buffers (names, iovecs → the caller's header and frame
    // slices, control) that stay alive for the call; the kernel only reads them.
    let r = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as u32, libc::MSG_DONTWAIT) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

/// `SOL_UDP` and its `UDP_SEGMENT` option (UDP GSO, Linux 4.18).
const SOL_UDP: libc::c_int = 17;
const UDP_SEGMENT: libc::c_int = 103;

/// Sends `buf` as one UDP GSO super-datagram: the kernel (or the device) cuts it into
/// datagrams of `seg` bytes (the last may be shorter). One call for a whole train of
/// encapsulated segments.
pub fn send_gso(fd: RawFd, v6: bool, buf: &[u8], seg: u16, m: &TxMsg<'_>) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let v4_dst = match m.dst {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    };
    let mut sin6 = sockaddr_v6(Ipv6Addr::UNSPECIFIED, 0);
    let mut sin = sockaddr_v4(Ipv4Addr::UNSPECIFIED, 0);
    let mut cm: CmsgBuf = [0; 16];
    // SAFETY: plain C struct; all-zero is valid.
    let mut h: libc::msghdr = unsafe { core::mem::zeroed() };
    if v6 {
        sin6 = sockaddr_v6(
            match m.dst {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            },
            m.port,
        );
        h.msg_name = (&mut sin6 as *mut libc::sockaddr_in6).cast();
        h.msg_namelen = core::mem::size_of::<libc::sockaddr_in6>() as u32;
    } else {
        sin = sockaddr_v4(v4_dst.unwrap_or(Ipv4Addr::UNSPECIFIED), m.port);
        h.msg_name = (&mut sin as *mut libc::sockaddr_in).cast();
        h.msg_namelen = core::mem::size_of::<libc::sockaddr_in>() as u32;
    }
    h.msg_iov = &mut iov;
    h.msg_iovlen = 1;
    h.msg_control = cm.as_mut_ptr().cast();
    h.msg_controllen = core::mem::size_of::<CmsgBuf>();
    let (level, tos_ty, ttl_ty) = if v4_dst.is_some() {
        (libc::SOL_IP, libc::IP_TOS, libc::IP_TTL)
    } else {
        (libc::SOL_IPV6, libc::IPV6_TCLASS, libc::IPV6_HOPLIMIT)
    };
    // SAFETY: the 128-byte control buffer holds the three small messages written here; the
    // walk is bounded by msg_controllen, which is then shrunk to what was used.
    unsafe {
        let mut used = 0;
        let mut c = libc::CMSG_FIRSTHDR(&h);
        for (lvl, ty, v) in [(level, tos_ty, m.tos), (level, ttl_ty, m.ttl)] {
            (*c).cmsg_level = lvl;
            (*c).cmsg_type = ty;
            (*c).cmsg_len = libc::CMSG_LEN(core::mem::size_of::<libc::c_int>() as u32) as _;
            core::ptr::write_unaligned(
                libc::CMSG_DATA(c).cast::<libc::c_int>(),
                libc::c_int::from(v),
            );
            used += libc::CMSG_SPACE(core::mem::size_of::<libc::c_int>() as u32) as usize;
            c = libc::CMSG_NXTHDR(&h, c);
        }
        (*c).cmsg_level = SOL_UDP;
        (*c).cmsg_type = UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(core::mem::size_of::<u16>() as u32) as _;
        core::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg);
        used += libc::CMSG_SPACE(core::mem::size_of::<u16>() as u32) as usize;
        h.msg_controllen = used;
    }
    // SAFETY: `h` points at the address, iovec (→ `buf`) and control buffer above, all alive
    // for the call; the kernel only reads them.
    let r = unsafe { libc::sendmsg(fd, &h, libc::MSG_DONTWAIT) };
    let _ = (&sin, &sin6);
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}
