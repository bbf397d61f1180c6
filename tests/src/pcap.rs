//! Classic libpcap files (the `tcpdump -w` format): write a list of frames, read one back.
//!
//! Only what the reliability tests need: microsecond timestamps, Ethernet link type, native
//! byte order on write and either byte order on read. The committed
//! `tests/data/malformed.pcap` is written by this module, so anyone can open it in Wireshark
//! or replay it with `tcpreplay` to reproduce a drop-counter result by hand.

/// pcap magic for microsecond timestamps.
const MAGIC: u32 = 0xa1b2_c3d4;
/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;
/// Largest frame length the files declare (`snaplen`).
pub const SNAPLEN: u32 = 65_535;

/// Errors reading a pcap file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PcapError {
    /// The file is shorter than its global header.
    #[error("the file is shorter than a pcap global header")]
    ShortHeader,
    /// The magic number is not a microsecond pcap magic in either byte order.
    #[error("the file does not start with a pcap magic number")]
    BadMagic,
    /// The link type is not Ethernet.
    #[error("the capture's link type {0} is not Ethernet (1)")]
    LinkType(u32),
    /// A record header or its data runs past the end of the file.
    #[error("record {0} runs past the end of the file")]
    Truncated(usize),
}

/// Serialises `frames` as a pcap file; frame `i` is stamped `i` milliseconds after the epoch
/// so the output depends on nothing but the frames.
pub fn write(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + frames.iter().map(|f| 16 + f.len()).sum::<usize>());
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // GMT offset
    out.extend_from_slice(&0u32.to_le_bytes()); // timestamp accuracy
    out.extend_from_slice(&SNAPLEN.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        let ms = i as u64;
        let len = u32::try_from(f.len().min(SNAPLEN as usize)).unwrap_or(SNAPLEN);
        out.extend_from_slice(&((ms / 1000) as u32).to_le_bytes());
        out.extend_from_slice(&(((ms % 1000) * 1000) as u32).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&f[..len as usize]);
    }
    out
}

/// Reads every frame of a pcap file (either byte order).
pub fn read(bytes: &[u8]) -> Result<Vec<Vec<u8>>, PcapError> {
    let header = bytes.get(..24).ok_or(PcapError::ShortHeader)?;
    let word = |b: &[u8], at: usize, big: bool| {
        let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if big {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    };
    let big = match (word(header, 0, false), word(header, 0, true)) {
        (MAGIC, _) => false,
        (_, MAGIC) => true,
        _ => return Err(PcapError::BadMagic),
    };
    let link = word(header, 20, big);
    if link != LINKTYPE_ETHERNET {
        return Err(PcapError::LinkType(link));
    }
    let mut frames = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let rec = bytes
            .get(at..at + 16)
            .ok_or(PcapError::Truncated(frames.len()))?;
        let caplen = word(rec, 8, big) as usize;
        let data = bytes
            .get(at + 16..at + 16 + caplen)
            .ok_or(PcapError::Truncated(frames.len()))?;
        frames.push(data.to_vec());
        at += 16 + caplen;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_including_empty_frames() {
        let frames = vec![vec![], vec![1, 2, 3], vec![0xab; 9000]];
        let file = write(&frames);
        assert_eq!(&file[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(file.len(), 24 + 3 * 16 + 9003);
        assert_eq!(read(&file).unwrap(), frames);
    }

    #[test]
    fn big_endian_files_are_read() {
        // Global header and one 2-byte record, written big-endian as some tools do.
        let mut f = Vec::new();
        for w in [MAGIC, 0x0002_0004, 0, 0, SNAPLEN, 1] {
            f.extend_from_slice(&w.to_be_bytes());
        }
        for w in [0u32, 0, 2, 2] {
            f.extend_from_slice(&w.to_be_bytes());
        }
        f.extend_from_slice(&[7, 8]);
        assert_eq!(read(&f).unwrap(), vec![vec![7, 8]]);
    }

    #[test]
    fn broken_files_are_reported() {
        assert_eq!(read(&[0; 10]), Err(PcapError::ShortHeader));
        assert_eq!(read(&[0; 24]), Err(PcapError::BadMagic));
        let mut f = write(&[vec![1, 2, 3]]);
        f[20] = 101; // LINKTYPE_RAW
        assert_eq!(read(&f), Err(PcapError::LinkType(101)));
        let mut f = write(&[vec![1, 2, 3]]);
        f.pop();
        assert_eq!(read(&f), Err(PcapError::Truncated(0)));
    }
}
