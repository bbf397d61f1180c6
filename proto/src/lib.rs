//! # proto — the vswitch gRPC API (package `vswitch.v1`)
//!
//! The `.proto` files under `vswitch/v1/` are the API reference: every service, message and
//! field is documented there. This crate only compiles them (tonic/prost, with a vendored
//! `protoc`) and exports the generated clients and servers, plus the encoded file descriptor
//! set the daemon registers with gRPC reflection so that generic clients (`grpcurl`, any
//! language's reflection client) can discover the API.
//!
//! Services: `BridgeService` (bridges and ports), `FlowService` (OpenFlow rules),
//! `DiagService` (trace, caches, MAC table, conntrack). The daemon also serves
//! `grpc.health.v1.Health` and server reflection (v1 and v1alpha).
//!
//! Clients on the daemon's unix socket must send the HTTP/2 `:authority` `localhost` (the
//! usual convention for unix sockets; the server rejects a socket path there): grpcio option
//! `grpc.default_authority=localhost`, `grpcurl -authority localhost -unix PATH`.

/// Generated code for package `vswitch.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("vswitch.v1");
}

/// Encoded `FileDescriptorSet` of every `vswitch.v1` file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("vswitch_v1_descriptor");

/// Maximum size of one gRPC message in either direction (16 MiB), shared by the daemon and
/// `vswitch-ctl` so a request the client accepts is one the server accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
