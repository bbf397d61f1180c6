use super::*;
use crate::multipart::MpReply;
use crate::{Message, decode, encode};

fn drop_band(rate: u32, burst: u32) -> Band {
    Band {
        typ: mbt::DROP,
        rate,
        burst_size: burst,
        prec_level: 0,
        experimenter: 0,
    }
}

fn round_trip(m: &Message, v: Version) {
    let bytes = encode(m, v, 9).unwrap();
    let (_, back) = decode(&bytes).unwrap();
    assert_eq!(&back, m, "{v:?}");
}

#[test]
fn meter_messages_round_trip() {
    let mm = MeterMod {
        command: mc::ADD,
        flags: mf::KBPS | mf::BURST | mf::STATS,
        meter_id: 1,
        bands: vec![
            drop_band(1000, 100),
            Band {
                typ: mbt::DSCP_REMARK,
                prec_level: 1,
                ..drop_band(500, 0)
            },
        ],
    };
    for v in [Version::Of13, Version::Of14, Version::Of15] {
        round_trip(&Message::MeterMod(mm.clone()), v);
        for body in [
            MpReply::MeterConfig(vec![MeterConfig {
                flags: mm.flags,
                meter_id: 1,
                bands: mm.bands.clone(),
            }]),
            MpReply::MeterStats(vec![MeterStats {
                meter_id: 1,
                flow_count: 2,
                packet_in_count: 3,
                byte_in_count: 4,
                duration_sec: 5,
                duration_nsec: 6,
                bands: vec![(7, 8), (9, 10)],
            }]),
            MpReply::MeterFeatures(MeterFeatures {
                max_meter: 1 << 18,
                band_types: 2,
                capabilities: 0xf,
                max_bands: 8,
                max_color: 0,
            }),
        ] {
            round_trip(&Message::MultipartReply { flags: 0, body }, v);
        }
    }
    assert!(encode(&Message::MeterMod(mm), Version::Of10, 1).is_err());
}

#[test]
fn bad_band_lengths_are_refused() {
    let mut w = Writer::new();
    w.u16(mbt::DROP);
    w.u16(12);
    w.u32(1);
    w.u32(1);
    assert!(decode_bands(Reader::new(&w.buf, "t")).is_err());
}
