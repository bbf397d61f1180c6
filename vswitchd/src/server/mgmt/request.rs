//! One connection's requests, carried to the switch: the session state OpenFlow keeps per
//! connection (switch config, role, async config, open bundles) and the mapping of each
//! request onto the switch's operations.
//!
//! Changes go through [`Shared::with_switch`] on the blocking pool, exactly as a gRPC
//! `AddFlows` does: planned, committed durably, applied, caches revalidated, view published.
//! Consecutive flow-mods that arrived together are tried as one transaction (one fsync for
//! an `ovs-ofctl add-flows` of any size); if that transaction is refused, they are applied
//! one by one so that each gets exactly OpenFlow's outcome — the good ones take effect, each
//! bad one gets its error. A bundle commit is one transaction, all or nothing.
//!
//! Bundles hold converted flow-mods; memory is bounded by [`MAX_BUNDLES`] open bundles and
//! [`MAX_BUNDLED`] flow-mods over all of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use ofp::message::{AsyncConfig, BundleCtrl, Role, SwitchConfig, bct};
use ofp::{ErrorCode, Message, Version};

use super::hub::{AsyncMsg, ConnKind};
use super::stats::{self, Answer};
use crate::controller::role::{Role as CtlRole, Seat};
use crate::ofproto::{FlowMod, FlowModError};
use crate::openflow::OpenFlowError;
use crate::openflow::conn::Conn;
use crate::openflow::convert::flow_mod_to_model;
use crate::openflow::packet_in::{self, PacketInFormat};
use crate::server::Shared;
use crate::switch::{BundleError, BundleOp, SwitchError};

/// Most bundles open at once on one connection.
pub const MAX_BUNDLES: usize = 64;
/// Most flow-mods held in open bundles on one connection.
pub const MAX_BUNDLED: usize = crate::switch::MAX_RULES_PER_BRIDGE;

/// `OFPBFC_*` codes used here.
const BFC_BAD_ID: u16 = 2;
const BFC_EXISTS: u16 = 3;
const BFC_CLOSED: u16 = 4;
const BFC_OUT_OF_BUNDLES: u16 = 5;
const BFC_BAD_TYPE: u16 = 6;
const BFC_MSG_UNSUP: u16 = 10;
const BFC_MSG_TOO_MANY: u16 = 12;
const BFC_MSG_FAILED: u16 = 13;

/// What the connection must write for a request.
#[derive(Debug)]
pub enum Reply {
    /// A complete message.
    Msg(Vec<u8>),
    /// A flow dump to stream ([`stats::flow_stats`] per rule).
    Flows {
        xid: u32,
        nx: bool,
        rules: Vec<Arc<crate::ofproto::Rule>>,
        now_ms: u64,
    },
}

/// A flow-mod as received, converted.
#[derive(Debug)]
pub struct PendingMod {
    pub xid: u32,
    /// The request's bytes (re-encoded), for an error reply.
    pub bytes: Vec<u8>,
    pub m: FlowMod,
}

/// A bundled message as received, converted (a flow-mod or a group-mod).
#[derive(Debug)]
struct PendingOp {
    xid: u32,
    /// The inner message's bytes, for an error reply.
    bytes: Vec<u8>,
    op: BundleOp,
}

#[derive(Debug)]
struct Bundle {
    closed: bool,
    mods: Vec<PendingOp>,
}

/// Per-connection OpenFlow state.
#[derive(Debug)]
pub struct Session {
    pub bridge: String,
    config: SwitchConfig,
    /// This connection's role among the bridge's connections.
    seat: Seat,
    async_cfg: AsyncConfig,
    bundles: BTreeMap<u32, Bundle>,
    bundled: usize,
    /// `NXT_FLOW_MOD_TABLE_ID`: OpenFlow 1.0 flow-mods carry a table in the command's high byte.
    flow_mod_table_id: bool,
    kind: ConnKind,
    /// `NXT_SET_PACKET_IN_FORMAT`.
    packet_in_format: PacketInFormat,
    /// `NXT_SET_CONTROLLER_ID`: only packet-ins for this id come here.
    controller_id: u16,
}

/// OVS's default asynchronous-message masks (1.4 property order: packet-in slave/master,
/// port-status slave/master, flow-removed slave/master, ...).
fn default_async() -> AsyncConfig {
    let mut a = AsyncConfig::default();
    // As OVS: every packet-in reason but invalid_ttl (OFPR14 bits less bit 2) to a
    // primary, port-status to all, flow-removed to a primary.
    let defaults = [0, 0x3b, 0x7, 0x7, 0, 0xf];
    for (i, m) in defaults.into_iter().enumerate() {
        a.masks[i] = Some(m);
    }
    a
}

/// The OpenFlow error for a refusal by the switch.
fn switch_error(e: &SwitchError) -> ErrorCode {
    fn table(e: &FlowModError) -> ErrorCode {
        match e {
            FlowModError::NoSuchTable(_) | FlowModError::AddToAllTables => {
                ErrorCode::FlowModBadTableId
            }
            FlowModError::GotoBackward { .. } | FlowModError::NoSuchTargetTable { .. } => {
                ErrorCode::BadInstructionTableId
            }
            FlowModError::GotoNotLast => ErrorCode::BadInstructionUnsupported,
            FlowModError::NoSuchGroup(_) => ErrorCode::BadActionOutGroup,
            FlowModError::Overlap { .. } => ErrorCode::FlowModOverlap,
            // As OVS (ofproto_check_ofpacts): OFPMMFC_INVALID_METER.
            FlowModError::NoSuchMeter(_) => ErrorCode::MeterMod(2),
            FlowModError::InBundle { source, .. } => table(source),
        }
    }
    match e {
        SwitchError::Table(t) => table(t),
        SwitchError::Limit(_) => ErrorCode::FlowModTableFull,
        SwitchError::UnmappedTlv(_) => ErrorCode::BadMatchField,
        SwitchError::Tlv(t) => {
            use fastpath::flow::tlv::TlvError as T;
            ErrorCode::TlvTableMod(match t {
                T::BadOptLen(_) => 17,
                T::BadFieldIdx(_) => 18,
                T::AlreadyMapped(_) => 20,
                T::DupEntry(..) => 21,
                T::InUse(_) => 38,
            })
        }
        _ => ErrorCode::FlowModEperm,
    }
}

/// OpenFlow's default `miss_send_len` (`OFP_DEFAULT_MISS_SEND_LEN`).
const DEFAULT_MISS_SEND_LEN: u16 = 128;

impl Session {
    /// A session for a connection of `kind` with its place `seat` among the bridge's roles.
    /// As in OVS, a service connection starts with `miss_send_len` 0, which keeps
    /// asynchronous messages away until it sets one.
    pub fn new(bridge: String, seat: Seat, kind: ConnKind) -> Session {
        Session {
            kind,
            packet_in_format: PacketInFormat::Standard,
            controller_id: 0,
            bridge,
            config: SwitchConfig {
                flags: 0,
                miss_send_len: match kind {
                    ConnKind::Service => 0,
                    ConnKind::Controller => DEFAULT_MISS_SEND_LEN,
                },
            },
            seat,
            async_cfg: default_async(),
            bundles: BTreeMap::new(),
            bundled: 0,
            flow_mod_table_id: false,
        }
    }

    /// Marks the connection's handshake done (it now counts as connected).
    pub fn set_open(&self) {
        self.seat.set_open();
    }

    /// Whether `m` changes the switch, which a slave may not do (OVS's
    /// `reject_slave_controller`).
    fn writes(m: &Message) -> bool {
        matches!(
            m,
            Message::FlowMod(_)
                | Message::NxFlowMod(_)
                | Message::PacketOut(_)
                | Message::BundleControl(_)
                | Message::BundleAdd(_)
                | Message::NxCtFlushZone(_)
                | Message::GroupMod(_)
                | Message::MeterMod(_)
                | Message::NxTlvTableMod { .. }
        )
    }

    fn version(conn: &Conn) -> Version {
        conn.version().unwrap_or(Version::Of10)
    }

    fn msg(conn: &Conn, xid: u32, m: &Message) -> Reply {
        match conn.reply(xid, m) {
            Ok(b) => Reply::Msg(b),
            Err(e) => Reply::Msg(conn.error_reply(xid, &e, &[])),
        }
    }

    fn error(conn: &Conn, xid: u32, code: ErrorCode, request: &[u8]) -> Reply {
        Reply::Msg(conn.error_reply(xid, &OpenFlowError::Refused(code), request))
    }

    /// Converts a flow-mod request, or the error reply for it.
    pub fn convert(&self, conn: &Conn, xid: u32, message: &Message) -> Result<PendingMod, Reply> {
        let v = Self::version(conn);
        let bytes = ofp::encode(message, v, xid).unwrap_or_default();
        let (Message::FlowMod(fm) | Message::NxFlowMod(fm)) = message else {
            return Err(Self::error(conn, xid, ErrorCode::BadRequestType, &bytes));
        };
        if self.seat.is_slave() {
            return Err(Self::error(
                conn,
                xid,
                ErrorCode::BadRequestIsSecondary,
                &bytes,
            ));
        }
        let mut fm = fm.clone();
        if v == Version::Of10 && !self.flow_mod_table_id {
            // Without NXT_FLOW_MOD_TABLE_ID a 1.0 flow-mod names no table: adds go to
            // table 0, modifies and deletes act on every table (as in OVS).
            fm.table_id = if fm.command == ofp::message::fc::ADD {
                0
            } else {
                crate::ofctl::TABLE_ALL
            };
        }
        if v == Version::Of10 && fm.command == ofp::message::fc::ADD {
            // OpenFlow 1.0 adds always start fresh counters; OVS records it as a flag.
            fm.flags |= crate::ofproto::spec::ff::RESET_COUNTS;
        }
        match flow_mod_to_model(&fm) {
            Ok(m) => Ok(PendingMod { xid, bytes, m }),
            Err(e) => {
                tracing::debug!(error = %e, "flow-mod refused");
                Err(Reply::Msg(conn.error_reply(xid, &e, &bytes)))
            }
        }
    }

    /// Applies flow-mods that arrived in a row (see the module docs); returns the error
    /// replies, in order.
    pub async fn flow_mods(
        &self,
        conn: &Conn,
        shared: &Arc<Shared>,
        mods: Vec<PendingMod>,
    ) -> Vec<Reply> {
        if mods.is_empty() {
            return Vec::new();
        }
        let bridge = self.bridge.clone();
        let shared2 = Arc::clone(shared);
        let outcome = tokio::task::spawn_blocking(move || {
            shared2.with_switch(|sw| {
                let all: Vec<FlowMod> = mods.iter().map(|p| p.m.clone()).collect();
                if mods.len() == 1 || sw.flow_mods(&bridge, all).is_err() {
                    // One by one: each flow-mod gets its own outcome.
                    mods.into_iter()
                        .filter_map(|p| match sw.flow_mods(&bridge, vec![p.m]) {
                            Ok(_) => None,
                            Err(e) => Some((p.xid, switch_error(&e), p.bytes, e.to_string())),
                        })
                        .collect::<Vec<_>>()
                } else {
                    Vec::new()
                }
            })
        })
        .await;
        match outcome {
            Ok(errors) => errors
                .into_iter()
                .map(|(xid, code, bytes, why)| {
                    tracing::debug!(bridge = %self.bridge, error = %why, "flow-mod refused");
                    Self::error(conn, xid, code, &bytes)
                })
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "flow-mod handler failed");
                Vec::new()
            }
        }
    }

    /// Handles any request other than a flow-mod outside a bundle.
    pub async fn handle(
        &mut self,
        conn: &Conn,
        shared: &Arc<Shared>,
        xid: u32,
        message: Message,
    ) -> Vec<Reply> {
        let v = Self::version(conn);
        let one = |m: Message| vec![Self::msg(conn, xid, &m)];
        let refuse = |code: ErrorCode, m: &Message| {
            let bytes = ofp::encode(m, v, xid).unwrap_or_default();
            vec![Self::error(conn, xid, code, &bytes)]
        };
        if self.seat.is_slave() && Self::writes(&message) {
            return refuse(ErrorCode::BadRequestIsSecondary, &message);
        }
        match message {
            Message::FlowMod(_) | Message::NxFlowMod(_) => {
                match self.convert(conn, xid, &message) {
                    Ok(p) => self.flow_mods(conn, shared, vec![p]).await,
                    Err(r) => vec![r],
                }
            }
            Message::FeaturesRequest => {
                let view = shared.view();
                match stats::features(&view, &self.bridge, v) {
                    Ok(f) => one(Message::FeaturesReply(f)),
                    Err(e) => refuse(e.code(), &message),
                }
            }
            Message::GetConfigRequest => one(Message::GetConfigReply(self.config)),
            Message::SetConfig(c) => {
                self.config = c;
                Vec::new()
            }
            Message::MultipartRequest { ref body, .. } => {
                let view = shared.view();
                let bridge = self.bridge.clone();
                let req = body.clone();
                let answer = tokio::task::spawn_blocking(move || {
                    let now = view.now_ms();
                    stats::multipart(&view, &bridge, v, &req).map(|a| (a, now))
                })
                .await
                .unwrap_or(Err(OpenFlowError::Refused(ErrorCode::BadRequestEperm)));
                match answer {
                    Ok((Answer::Body(b), _)) => match conn.multipart_reply(xid, b) {
                        Ok(msgs) => msgs.into_iter().map(Reply::Msg).collect(),
                        Err(e) => refuse(e.code(), &message),
                    },
                    Ok((Answer::Flows { nx, rules }, now_ms)) => vec![Reply::Flows {
                        xid,
                        nx,
                        rules,
                        now_ms,
                    }],
                    Err(e) => refuse(e.code(), &message),
                }
            }
            Message::RoleRequest(r) => {
                let Some(role) = CtlRole::from_ofp(r.role) else {
                    return refuse(ErrorCode::RoleBad, &message);
                };
                // OpenFlow 1.2+ always carries an id; it counts for master and slave only.
                match self.seat.request(role, Some(r.generation_id)) {
                    Ok((now, generation_id)) => one(Message::RoleReply(Role {
                        role: now.to_ofp(),
                        generation_id: generation_id.unwrap_or(u64::MAX),
                    })),
                    Err(e) => {
                        tracing::debug!(bridge = %self.bridge, error = %e, "role request refused");
                        refuse(ErrorCode::RoleStale, &message)
                    }
                }
            }
            Message::NxRoleRequest(r) => match CtlRole::from_nx(r) {
                // Nicira's request has no generation id.
                Some(role) => match self.seat.request(Some(role), None) {
                    Ok((now, _)) => one(Message::NxRoleReply(now.to_nx())),
                    Err(_) => refuse(ErrorCode::RoleStale, &message),
                },
                None => refuse(ErrorCode::RoleBad, &message),
            },
            Message::GetAsyncRequest => one(Message::GetAsyncReply(self.async_cfg)),
            Message::SetAsync(a) | Message::NxSetAsync(a) => {
                for (i, m) in a.masks.iter().enumerate() {
                    if m.is_some() {
                        self.async_cfg.masks[i] = *m;
                    }
                }
                Vec::new()
            }
            // OpenFlow 1.0 flow format: OpenFlow 1.0 (0) or NXM (2).
            Message::NxFlowModTableId(on) => {
                self.flow_mod_table_id = on;
                Vec::new()
            }
            Message::NxSetFlowFormat(0 | 2) => Vec::new(),
            Message::NxSetPacketInFormat(f) => match PacketInFormat::from_wire(f) {
                Some(f) => {
                    self.packet_in_format = f;
                    Vec::new()
                }
                // Nicira's older NXT_PACKET_IN (1) is not sent by this switch.
                None => refuse(ErrorCode::BadRequestEperm, &message),
            },
            Message::NxSetControllerId(id) => {
                self.controller_id = id;
                Vec::new()
            }
            Message::PacketOut(ref po) => match self.packet_out(shared, po).await {
                Ok(()) => Vec::new(),
                Err(code) => refuse(code, &message),
            },
            Message::NxResume(ref p) => match self.resume(conn, shared, p).await {
                Ok(()) => Vec::new(),
                Err(code) => refuse(code, &message),
            },
            Message::NxTlvTableRequest => {
                let maps = shared
                    .view()
                    .dataplane()
                    .bridge_tlv(&self.bridge)
                    .load()
                    .mappings();
                one(Message::NxTlvTableReply {
                    max_option_space: fastpath::flow::TUN_MD_BYTES as u32,
                    max_fields: fastpath::flow::tlv::MAX_FIELDS as u16,
                    maps: maps
                        .iter()
                        .map(|m| ofp::message::TlvMap {
                            option_class: m.class,
                            option_type: m.kind,
                            option_len: m.len,
                            index: m.index.into(),
                        })
                        .collect(),
                })
            }
            Message::NxTlvTableMod { command, ref maps } => {
                use crate::switch::tlv::TlvCommand;
                let command = match command {
                    0 => TlvCommand::Add,
                    1 => TlvCommand::Delete,
                    2 => TlvCommand::Clear,
                    _ => return refuse(ErrorCode::TlvTableMod(16), &message),
                };
                // An index OpenFlow cannot name is OVS's "bad field index", not a wrap.
                let Some(maps) = maps
                    .iter()
                    .map(|m| {
                        Some(fastpath::flow::tlv::TlvMapping {
                            class: m.option_class,
                            kind: m.option_type,
                            len: m.option_len,
                            index: u8::try_from(m.index).ok().filter(|i| *i < 64)?,
                        })
                    })
                    .collect::<Option<Vec<_>>>()
                else {
                    return refuse(ErrorCode::TlvTableMod(18), &message);
                };
                let bridge = self.bridge.clone();
                let shared2 = Arc::clone(shared);
                let r = tokio::task::spawn_blocking(move || {
                    shared2.with_switch(|sw| sw.tlv_table_mod(&bridge, command, &maps))
                })
                .await;
                match r {
                    Ok(Ok(())) => Vec::new(),
                    Ok(Err(e)) => {
                        tracing::debug!(bridge = %self.bridge, error = %e, "TLV table mod refused");
                        refuse(switch_error(&e), &message)
                    }
                    Err(_) => refuse(ErrorCode::TlvTableMod(16), &message),
                }
            }
            Message::NxCtFlushZone(zone) => {
                if let Some(ct) = shared.view().dataplane().conntrack() {
                    let ct = Arc::clone(ct);
                    let _ = tokio::task::spawn_blocking(move || ct.flush(Some(zone), None)).await;
                }
                Vec::new()
            }
            Message::GroupMod(ref gm) => match self.group_mod(shared, gm).await {
                Ok(()) => Vec::new(),
                Err(code) => refuse(code, &message),
            },
            Message::MeterMod(ref mm) => match self.meter_mod(shared, mm).await {
                Ok(()) => Vec::new(),
                Err(code) => refuse(code, &message),
            },
            Message::BundleControl(c) => self.bundle_control(conn, shared, xid, c, &message).await,
            Message::BundleAdd(ref add) => {
                let Some(b) = self.bundles.get(&add.bundle_id) else {
                    // OpenFlow 1.4: adding to a bundle that is not open opens it.
                    if self.bundles.len() >= MAX_BUNDLES {
                        return refuse(ErrorCode::Bundle(BFC_OUT_OF_BUNDLES), &message);
                    }
                    self.bundles.insert(
                        add.bundle_id,
                        Bundle {
                            closed: false,
                            mods: Vec::new(),
                        },
                    );
                    return Box::pin(self.handle(conn, shared, xid, message)).await;
                };
                if b.closed {
                    return refuse(ErrorCode::Bundle(BFC_CLOSED), &message);
                }
                if self.bundled >= MAX_BUNDLED {
                    return refuse(ErrorCode::Bundle(BFC_MSG_TOO_MANY), &message);
                }
                // As OVS (`ofputil_is_bundlable`), flow-mods and group-mods; not meter-mods.
                let p = match &*add.message {
                    Message::FlowMod(_) | Message::NxFlowMod(_) => {
                        match self.convert(conn, add.xid, &add.message) {
                            Ok(p) => PendingOp {
                                xid: p.xid,
                                bytes: p.bytes,
                                op: BundleOp::Flow(p.m),
                            },
                            Err(r) => return vec![r],
                        }
                    }
                    Message::GroupMod(gm) => {
                        let bytes = ofp::encode(&add.message, v, add.xid).unwrap_or_default();
                        match crate::openflow::group::group_mod_to_model(gm) {
                            Ok(g) => PendingOp {
                                xid: add.xid,
                                bytes,
                                op: BundleOp::Group(g),
                            },
                            Err(e) => {
                                tracing::debug!(error = %e, "bundled group-mod refused");
                                return vec![Self::error(conn, add.xid, e.code(), &bytes)];
                            }
                        }
                    }
                    _ => return refuse(ErrorCode::Bundle(BFC_MSG_UNSUP), &message),
                };
                self.bundled += 1;
                if let Some(b) = self.bundles.get_mut(&add.bundle_id) {
                    b.mods.push(p);
                }
                Vec::new()
            }
            other => refuse(ErrorCode::BadRequestType, &other),
        }
    }

    /// What asynchronous message `m` becomes for this connection, if it wants it (OVS's
    /// `ofconn_receives_async_msg`): a service connection only once it set a nonzero
    /// `miss_send_len`; a packet-in only for the controller id it set; and only for reasons its
    /// async config enables for its role.
    pub fn async_message(&self, conn: &Conn, m: &AsyncMsg) -> Option<Vec<u8>> {
        let v = conn.version()?;
        if self.kind == ConnKind::Service && self.config.miss_send_len == 0 {
            return None;
        }
        let slave = self.seat.is_slave();
        match m {
            AsyncMsg::PacketIn(p) => {
                if p.cookie.controller_id != self.controller_id {
                    return None;
                }
                let mask = self.async_cfg.masks[usize::from(!slave)].unwrap_or(0);
                let reason = packet_in::wire_reason(p.cookie.reason, v);
                if mask & (1u32 << (reason & 31)) == 0 {
                    return None;
                }
                match packet_in::encode(p, v, self.packet_in_format, 0) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        tracing::debug!(error = %e, "packet-in not encodable for this connection");
                        None
                    }
                }
            }
            AsyncMsg::FlowRemoved(f) => {
                // Masks 4 and 5: flow-removed for a secondary and for the other roles.
                let mask = self.async_cfg.masks[4 + usize::from(!slave)].unwrap_or(0);
                if mask & (1u32 << (f.reason & 31)) == 0 {
                    return None;
                }
                let Some(msg) = crate::openflow::flow_removed::message(f, v) else {
                    tracing::debug!("a flow-removed this version cannot carry was not sent");
                    return None;
                };
                ofp::encode(&msg, v, 0).ok()
            }
        }
    }

    /// `OFPT_PACKET_OUT`: the packet enters the bridge on `in_port` (a port, `LOCAL`,
    /// `CONTROLLER` or `NONE`) and the actions run on it (OVS's `handle_packet_out`). The
    /// switch keeps no buffers, so a buffer id other than `NO_BUFFER` is unknown.
    async fn packet_out(
        &self,
        shared: &Arc<Shared>,
        po: &ofp::message::PacketOut,
    ) -> Result<(), ErrorCode> {
        use crate::ofproto::{OfAction, ofpp};
        if po.buffer_id != packet_in::NO_BUFFER {
            return Err(ErrorCode::BadRequestBufferUnknown);
        }
        let in_port = match po.in_port {
            p if p < ofpp::MAX || p == ofpp::LOCAL || p == ofpp::CONTROLLER => p,
            ofpp::ANY => ofpp::CONTROLLER,
            _ => return Err(ErrorCode::BadRequestPort),
        };
        let mut actions = Vec::new();
        for a in &po.actions {
            match a {
                // Output to TABLE (valid only here) runs the packet through the tables.
                ofp::Action::Output {
                    port: ofpp::TABLE, ..
                } => actions.push(OfAction::Resubmit {
                    port: None,
                    table: Some(0),
                }),
                a => actions
                    .extend(crate::openflow::convert::action_to_model(a).map_err(|e| e.code())?),
            }
        }
        let dp = Arc::clone(shared.view().dataplane());
        let bridge = self.bridge.clone();
        let frame = po.data.clone();
        tokio::task::spawn_blocking(move || dp.packet_out(&bridge, in_port, &actions, &frame))
            .await
            .map_err(|_| ErrorCode::BadRequestEperm)?
            .map_err(|e| {
                tracing::debug!(error = %crate::report::chain(&e), "packet-out refused");
                ErrorCode::BadActionEperm
            })
    }

    /// `OFPT_GROUP_MOD`: the same group change `vswitch-ctl add-group` makes (durable,
    /// applied, megaflows revalidated when this returns). OpenFlow's "exists" and "unknown"
    /// refusals are decided under the switch lock, so they cannot race another change.
    async fn group_mod(
        &self,
        shared: &Arc<Shared>,
        gm: &ofp::group::GroupMod,
    ) -> Result<(), ErrorCode> {
        use crate::ofproto::group::{GroupError, GroupModCommand};
        use crate::openflow::group::{
            WireGroupMod, apply_bucket_command, group_error, group_mod_to_model,
        };
        let m = group_mod_to_model(gm).map_err(|e| {
            tracing::debug!(error = %e, "group-mod refused");
            e.code()
        })?;
        let bridge = self.bridge.clone();
        let shared = Arc::clone(shared);
        let eperm = ErrorCode::GroupMod(14);
        tokio::task::spawn_blocking(move || {
            shared.with_switch(|sw| {
                let installed = |sw: &crate::switch::Switch, id: u32| {
                    sw.dump_groups(&bridge, &format!("group_id={id}"))
                        .ok()
                        .and_then(|g| g.first().map(|e| e.group.spec.clone()))
                };
                let gm = match m {
                    WireGroupMod::Whole(g) => g,
                    WireGroupMod::Buckets(w) => {
                        let cur = installed(sw, w.group_id);
                        apply_bucket_command(&w, cur.as_ref()).map_err(|e| e.code())?
                    }
                };
                let exists = installed(sw, gm.spec.id).is_some();
                match gm.command {
                    GroupModCommand::Add if exists => {
                        return Err(group_error(&GroupError::Exists(gm.spec.id)));
                    }
                    GroupModCommand::Modify { may_create: false } if !exists => {
                        return Err(group_error(&GroupError::Unknown(gm.spec.id)));
                    }
                    _ => {}
                }
                sw.group_mod(&bridge, gm).map(|_| ()).map_err(|e| {
                    tracing::debug!(error = %e, "group-mod refused");
                    eperm
                })
            })
        })
        .await
        .map_err(|_| eperm)?
    }

    /// `OFPT_METER_MOD`: durable, applied and revalidated when this returns.
    async fn meter_mod(
        &self,
        shared: &Arc<Shared>,
        mm: &ofp::meter::MeterMod,
    ) -> Result<(), ErrorCode> {
        use crate::openflow::meter::{meter_error, meter_mod_to_model};
        use crate::switch::MeterModError;
        let m = meter_mod_to_model(mm).map_err(|e| e.code())?;
        let bridge = self.bridge.clone();
        let shared = Arc::clone(shared);
        let unknown = ErrorCode::MeterMod(0);
        tokio::task::spawn_blocking(move || {
            shared.with_switch(|sw| {
                sw.meter_mod(&bridge, m).map(|_| ()).map_err(|e| {
                    tracing::debug!(error = %e, "meter-mod refused");
                    match e {
                        MeterModError::Refused(e) => meter_error(&e),
                        MeterModError::Switch(_) => unknown,
                    }
                })
            })
        })
        .await
        .map_err(|_| unknown)?
    }

    /// `NXT_RESUME`: a paused packet carries on where it was frozen ([`crate::xlate::pause`]).
    async fn resume(
        &self,
        conn: &Conn,
        shared: &Arc<Shared>,
        p: &ofp::message::PacketIn2,
    ) -> Result<(), ErrorCode> {
        let req = crate::openflow::resume::decode(p, Self::version(conn))?;
        let dp = Arc::clone(shared.view().dataplane());
        tokio::task::spawn_blocking(move || dp.resume(req))
            .await
            .map_err(|_| ErrorCode::BadRequestEperm)?
            .map_err(|e| {
                tracing::debug!(error = %crate::report::chain(&e), "resume refused");
                match e {
                    crate::dataplane::DataplaneError::StaleContinuation => ErrorCode::ResumeStale,
                    _ => ErrorCode::BadActionEperm,
                }
            })
    }

    async fn bundle_control(
        &mut self,
        conn: &Conn,
        shared: &Arc<Shared>,
        xid: u32,
        c: BundleCtrl,
        message: &Message,
    ) -> Vec<Reply> {
        let v = Self::version(conn);
        let bytes = ofp::encode(message, v, xid).unwrap_or_default();
        let refuse = |code: u16| vec![Self::error(conn, xid, ErrorCode::Bundle(code), &bytes)];
        let reply = |typ: u16| {
            vec![Self::msg(
                conn,
                xid,
                &Message::BundleControl(BundleCtrl { typ, ..c }),
            )]
        };
        match c.typ {
            bct::OPEN_REQUEST => {
                if self.bundles.contains_key(&c.bundle_id) {
                    return refuse(BFC_EXISTS);
                }
                if self.bundles.len() >= MAX_BUNDLES {
                    return refuse(BFC_OUT_OF_BUNDLES);
                }
                self.bundles.insert(
                    c.bundle_id,
                    Bundle {
                        closed: false,
                        mods: Vec::new(),
                    },
                );
                reply(bct::OPEN_REPLY)
            }
            bct::CLOSE_REQUEST => match self.bundles.get_mut(&c.bundle_id) {
                None => refuse(BFC_BAD_ID),
                Some(b) if b.closed => refuse(BFC_CLOSED),
                Some(b) => {
                    b.closed = true;
                    reply(bct::CLOSE_REPLY)
                }
            },
            bct::DISCARD_REQUEST => match self.bundles.remove(&c.bundle_id) {
                None => refuse(BFC_BAD_ID),
                Some(b) => {
                    self.bundled -= b.mods.len();
                    reply(bct::DISCARD_REPLY)
                }
            },
            bct::COMMIT_REQUEST => {
                let Some(b) = self.bundles.remove(&c.bundle_id) else {
                    return refuse(BFC_BAD_ID);
                };
                self.bundled -= b.mods.len();
                let bridge = self.bridge.clone();
                let shared = Arc::clone(shared);
                let outcome = tokio::task::spawn_blocking(move || {
                    let (xids, ops): (Vec<_>, Vec<_>) =
                        b.mods.into_iter().map(|p| ((p.xid, p.bytes), p.op)).unzip();
                    let failed = |index: usize, code, why: String| {
                        let (x, bytes) = xids.into_iter().nth(index).unwrap_or_default();
                        (x, bytes, code, why)
                    };
                    if ops.iter().all(|op| matches!(op, BundleOp::Flow(_))) {
                        let mods = ops
                            .into_iter()
                            .filter_map(|op| match op {
                                BundleOp::Flow(m) => Some(m),
                                BundleOp::Group(_) => None,
                            })
                            .collect();
                        let r = shared.with_switch(|sw| sw.flow_mods(&bridge, mods));
                        return r.map(|_| ()).map_err(|e| {
                            let index = match &e {
                                SwitchError::Table(FlowModError::InBundle { index, .. }) => *index,
                                _ => 0,
                            };
                            failed(index, switch_error(&e), e.to_string())
                        });
                    }
                    let r = shared.with_switch(|sw| sw.bundle(&bridge, ops));
                    r.map(|_| ()).map_err(|e| {
                        let why = crate::report::chain(&e);
                        match e {
                            BundleError::Flow { index, source } => {
                                failed(index, switch_error(&source), why)
                            }
                            BundleError::Group { index, source } => {
                                failed(index, source.code(), why)
                            }
                            BundleError::Switch(e) => failed(0, switch_error(&e), why),
                        }
                    })
                })
                .await;
                match outcome {
                    Ok(Ok(_)) => reply(bct::COMMIT_REPLY),
                    Ok(Err((inner_xid, inner, code, why))) => {
                        tracing::debug!(bridge = %self.bridge, error = %why, "bundle refused");
                        let mut out = vec![Self::error(conn, inner_xid, code, &inner)];
                        out.extend(refuse(BFC_MSG_FAILED));
                        out
                    }
                    Err(_) => refuse(BFC_MSG_FAILED),
                }
            }
            _ => refuse(BFC_BAD_TYPE),
        }
    }
}
