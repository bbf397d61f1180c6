//! placeholder
pub mod malformed;
pub mod netns;
pub mod pcap;
pub mod rawsock;
