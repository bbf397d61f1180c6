//! The userspace datapath: caches, upcalls and action execution over batches of packets
//! (OVS's `dpif-netdev`).
//!
//! # Design
//!
//! A [`Datapath`] is shared by its datapath threads; each thread owns a [`PmdContext`]: its
//! microflow cache (no lock), scratch buffers and packet pool, and a handle on its own megaflow
//! table, which sits behind a mutex in the datapath so the revalidator can reach it. Processing a
//! batch ([`Datapath::process_batch`]) is:
//!
//! 1. extract a key per packet (malformed frames are counted per port and reason, and dropped);
//! 2. **locked** (the thread's own table, uncontended, once per batch of up to 32): microflow
//!    lookup, then a batched megaflow lookup for the microflow misses; every hit is executed
//!    right there; megaflow hits are offered to the microflow cache;
//! 3. **unlocked** for each remaining miss: re-check the table (an earlier miss in the batch may
//!    have installed the flow: concurrent misses install one entry), take a token from the input
//!    port's upcall budget (none left: counted `lost`, dropped), call the slow path, then lock,
//!    install `key & mask → actions`, execute, unlock;
//! 4. recirculated packets are re-extracted with their new `recirc_id` and `ct_*` metadata and go
//!    round again, up to `max_recirc_depth` passes.
//!
//! Outputs are queued per port in the context and sent with one `send_batch` per port by the
//! port I/O in [`pmd`] ([`Datapath::transmit`]). This module does no I/O and time is always an
//! argument (`now_ms`), so tests drive the datapath directly.
//!
//! # Invariants
//!
//! - Lock order: the slow path's locks (held inside `upcall()`, and by the revalidator around
//!   [`Datapath::revalidate`]) come before any table lock; a thread never holds two table locks.
//! - No stale actions: every cache hit is executed under the table lock, and revalidation takes
//!   every table lock in turn after bumping a sequence number; an install whose translation
//!   started before a revalidation retranslates instead of installing. So once `revalidate`
//!   returns, no packet that starts processing later sees a pre-revalidation translation.
//! - Every megaflow matches `recirc_id` exactly, whatever mask the slow path returns, so a
//!   flow learned on one pass never matches a packet on another.

mod batch;
mod flow_limit;
pub mod maintain;
pub mod pmd;
mod ports;
pub mod revalidate;
pub mod stats;

pub use flow_limit::EVICT_SLICE;
pub use ports::DpPort;
pub use revalidate::{MegaflowDump, RevalidateSummary, Verdict};
pub use stats::{DpStats, DropReason, PortDpStats};

use batch::{Budget, Miss, OutputQueues, Pending, Sink, Staged, Work};

use crate::action::{self, ConntrackHook, Headers, PacketMeta, UserspaceSink};
use crate::cache::microflow::{DEFAULT_ENTRIES, DEFAULT_INSERT_INV_PROB};
use crate::cache::{KeyHasher, MegaflowEntry, MegaflowTable, MicroflowCache, megaflow};
use crate::flow::FlowKey;
use crate::flow::extract::extract;
use crate::packet::{Packet, PacketPool};
use crate::port::BATCH_SIZE;
use crate::upcall::UpcallHandler;
use arc_swap::ArcSwap;
use stats::{PortCounters, SharedCounters, ThreadCounters, bump};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

/// Datapath tunables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpConfig {
    /// Microflow cache slots per thread.
    pub microflow_entries: usize,
    /// Insert into the microflow cache on one megaflow hit in this many (0 = never).
    pub microflow_insert_inv_prob: u32,
    /// Most megaflows over all threads at start-up ([`Datapath::set_flow_limit`] changes it);
    /// beyond it the least recently used are evicted.
    pub flow_limit: usize,
    /// Megaflows unused this long are deleted by [`Datapath::sweep`].
    pub idle_timeout_ms: u64,
    /// Most passes through the caches for one packet (1 + recirculations).
    pub max_recirc_depth: u8,
    /// Upcalls a port may make in a burst, per thread.
    pub upcall_burst_per_port: u32,
    /// Sustained upcalls per second a port may make, per thread.
    pub upcall_rate_per_port: u32,
    /// Packet buffers each thread keeps in its pool.
    pub pool_buffers: usize,
    /// Capacity of each pooled buffer (largest frame).
    pub buffer_capacity: usize,
}

impl Default for DpConfig {
    fn default() -> Self {
        DpConfig {
            microflow_entries: DEFAULT_ENTRIES,
            microflow_insert_inv_prob: DEFAULT_INSERT_INV_PROB,
            flow_limit: 200_000,
            idle_timeout_ms: 10_000,
            max_recirc_depth: 6,
            upcall_burst_per_port: 2_048,
            upcall_rate_per_port: 50_000,
            pool_buffers: 4 * BATCH_SIZE,
            buffer_capacity: 2_048,
        }
    }
}

/// Errors of datapath configuration calls.
#[derive(Debug, thiserror::Error)]
pub enum DpifError {
    #[error("datapath port number {0} is already in use")]
    PortExists(u32),
    #[error("datapath port number {0} does not exist")]
    NoSuchPort(u32),
    #[error("datapath port number {0} was given no device queue")]
    NoQueues(u32),
}

pub(crate) type PortMap = HashMap<u32, Arc<DpPort>>;

/// What the datapath keeps of each thread: its table and its counters.
pub(crate) struct ThreadShared {
    table: Mutex<MegaflowTable>,
    /// `table.len()`, updated under the table lock, readable without it (flow limit).
    megaflows: AtomicUsize,
    counters: ThreadCounters,
    ports: Mutex<Vec<(u32, Arc<PortCounters>)>>,
}

impl ThreadShared {
    fn lock(&self) -> MutexGuard<'_, MegaflowTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sync_len(&self, table: &MegaflowTable) {
        self.megaflows.store(table.len(), Ordering::Relaxed);
    }
}

/// The datapath.
pub struct Datapath {
    config: DpConfig,
    upcall: Arc<dyn UpcallHandler>,
    conntrack: Option<Arc<dyn ConntrackHook>>,
    /// Where `userspace` actions send packets (set once, by the slow path's owner).
    userspace: std::sync::OnceLock<Arc<dyn UserspaceSink>>,
    hasher: KeyHasher,
    threads: RwLock<Vec<Arc<ThreadShared>>>,
    /// Bumped by every revalidation before it touches any table.
    reval_seq: AtomicU64,
    shared: SharedCounters,
    ports: ArcSwap<PortMap>,
    port_update: Mutex<()>,
    epoch: Instant,
    /// The megaflow limit in force: starts at `config.flow_limit`, changed at run time by
    /// [`Datapath::set_flow_limit`].
    flow_limit: AtomicUsize,
}

impl core::fmt::Debug for Datapath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Datapath")
            .field("config", &self.config)
            .field("conntrack", &self.conntrack.is_some())
            .finish()
    }
}

/// One datapath thread's private state. Create with [`Datapath::new_pmd`].
pub struct PmdContext {
    shared: Arc<ThreadShared>,
    emc: MicroflowCache,
    emc_hasher: KeyHasher,
    staged: Staged,
    keys: Vec<FlowKey>,
    hashes: Vec<u64>,
    recirc: Vec<Pending>,
    misses: Vec<Miss>,
    drops: Vec<(u32, DropReason)>,
    tunnel_drops: Vec<crate::port::tunnel::TunnelDrop>,
    out: OutputQueues,
    pool: PacketPool,
    rx: Vec<Packet>,
    batch: Vec<Packet>,
    budgets: HashMap<u32, Budget>,
    port_counters: Vec<(u32, Arc<PortCounters>)>,
    /// This thread's index among the datapath threads: picks its transmit queue on multiqueue
    /// ports ([`pmd::tx_queue`]).
    thread_index: u32,
}

impl core::fmt::Debug for PmdContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PmdContext")
            .field("emc", &self.emc)
            .finish()
    }
}

impl Drop for PmdContext {
    /// A stopped thread's megaflows can no longer be hit: delete them (its counters stay).
    fn drop(&mut self) {
        let mut table = self.shared.lock();
        table.retain(|_| megaflow::Retain::Remove);
        self.shared.sync_len(&table);
    }
}

impl PmdContext {
    /// Queued output packets per port (in first-output order).
    pub fn outputs(&self) -> impl Iterator<Item = (u32, &[Packet])> {
        self.out.queues[..self.out.active]
            .iter()
            .map(|(p, q)| (*p, q.as_slice()))
    }

    /// Takes the queued outputs (allocates; tests and the slow path's packet-out).
    pub fn take_outputs(&mut self) -> Vec<(u32, Vec<Packet>)> {
        let active = self.out.active;
        self.out.active = 0;
        self.out.queues[..active]
            .iter_mut()
            .map(|(p, q)| (*p, std::mem::take(q)))
            .collect()
    }

    /// Returns every queued output to the pool without sending it.
    pub fn discard_outputs(&mut self) {
        for (_, q) in &mut self.out.queues[..self.out.active] {
            for p in q.drain(..) {
                self.pool.put(p);
            }
        }
        self.out.active = 0;
    }

    /// A buffer from this thread's pool (for callers that build packets to inject).
    pub fn packet_buffer(&mut self) -> Packet {
        self.pool.get()
    }

    /// Sets this thread's index among the datapath threads (0 for a context that is not a
    /// [`pmd::PmdThread`]'s); [`pmd::run`] sets it from its assignment.
    pub fn set_thread_index(&mut self, index: u32) {
        self.thread_index = index;
    }

    /// This thread's index among the datapath threads.
    pub fn thread_index(&self) -> u32 {
        self.thread_index
    }

    /// The microflow cache (statistics, tests).
    pub fn microflow(&self) -> &MicroflowCache {
        &self.emc
    }

    fn port_counters(&mut self, port: u32) -> Arc<PortCounters> {
        if let Some((_, c)) = self.port_counters.iter().find(|(p, _)| *p == port) {
            return Arc::clone(c);
        }
        let mut shared = self.shared.ports.lock().unwrap_or_else(|e| e.into_inner());
        let c = Arc::new(PortCounters::new());
        shared.push((port, Arc::clone(&c)));
        self.port_counters.push((port, Arc::clone(&c)));
        c
    }

    fn count_drops(&mut self) {
        while let Some((port, reason)) = self.drops.pop() {
            let c = self.port_counters(port);
            bump(&c.drops[reason.index()], 1);
        }
    }
}

impl Datapath {
    /// A datapath that sends misses to `upcall`, and `ct` actions to `conntrack` (without one,
    /// packets whose actions need conntrack are dropped and counted as `NoConntrack`).
    pub fn new(
        config: DpConfig,
        upcall: Arc<dyn UpcallHandler>,
        conntrack: Option<Arc<dyn ConntrackHook>>,
    ) -> Datapath {
        Datapath {
            flow_limit: AtomicUsize::new(config.flow_limit.max(1)),
            config,
            upcall,
            conntrack,
            userspace: std::sync::OnceLock::new(),
            hasher: KeyHasher::random(),
            threads: RwLock::new(Vec::new()),
            reval_seq: AtomicU64::new(0),
            shared: SharedCounters::default(),
            ports: ArcSwap::from_pointee(PortMap::new()),
            port_update: Mutex::new(()),
            epoch: Instant::now(),
        }
    }

    /// Sets where `userspace` actions send their packets; only the first call counts
    /// (returns false for later ones). Until then such actions send nothing.
    pub fn set_userspace_sink(&self, sink: Arc<dyn UserspaceSink>) -> bool {
        self.userspace.set(sink).is_ok()
    }

    /// The configuration.
    pub fn config(&self) -> &DpConfig {
        &self.config
    }

    /// Milliseconds since the datapath was created (the clock for threads and revalidators
    /// that run in real time; core calls take `now_ms` as an argument).
    pub fn clock_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Registers a datapath thread and returns its private context.
    pub fn new_pmd(&self) -> PmdContext {
        let shared = Arc::new(ThreadShared {
            table: Mutex::new(MegaflowTable::new(self.hasher.clone())),
            megaflows: AtomicUsize::new(0),
            counters: ThreadCounters::default(),
            ports: Mutex::new(Vec::new()),
        });
        let mut threads = self.threads.write().unwrap_or_else(|e| e.into_inner());
        threads.push(Arc::clone(&shared));
        let seed = (threads.len() as u32).wrapping_mul(0x9e37_79b9) ^ 0x5bd1_e995;
        drop(threads);
        let mut pool = PacketPool::new(self.config.pool_buffers, self.config.buffer_capacity);
        let rx = (0..BATCH_SIZE).map(|_| pool.get()).collect();
        PmdContext {
            shared,
            emc: MicroflowCache::new(
                self.config.microflow_entries,
                self.config.microflow_insert_inv_prob,
                seed,
            ),
            emc_hasher: KeyHasher::random(),
            staged: Staged::with_capacity(BATCH_SIZE),
            keys: Vec::with_capacity(BATCH_SIZE),
            hashes: vec![0; megaflow::MAX_BATCH],
            recirc: Vec::with_capacity(BATCH_SIZE),
            misses: Vec::with_capacity(BATCH_SIZE),
            drops: Vec::new(),
            tunnel_drops: Vec::new(),
            out: OutputQueues::default(),
            pool,
            rx,
            batch: Vec::with_capacity(BATCH_SIZE),
            budgets: HashMap::new(),
            port_counters: Vec::new(),
            thread_index: 0,
        }
    }

    pub(crate) fn threads(&self) -> Vec<Arc<ThreadShared>> {
        self.threads
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Processes packets received on `in_port` (drains `batch`). Outputs are queued in `ctx`
    /// (see [`PmdContext::outputs`], [`Datapath::transmit`]).
    pub fn process_batch(
        &self,
        ctx: &mut PmdContext,
        in_port: u32,
        batch: &mut Vec<Packet>,
        now_ms: u64,
    ) {
        let port = ctx.port_counters(in_port);
        let mut bytes = 0;
        let n = batch.len() as u64;
        for mut packet in batch.drain(..) {
            bytes += packet.len() as u64;
            packet.in_port = in_port;
            self.stage(ctx, packet, PacketMeta::new(in_port), 0);
        }
        bump(&port.rx_packets, n);
        bump(&port.rx_bytes, bytes);
        bump(&ctx.shared.counters.packets, n);
        self.run(ctx, now_ms);
        // One slot per batch (as OVS's slow EMC sweep): each probe of a cold slot is a cache
        // miss, and dead entries only hold memory, never forward.
        ctx.emc.sweep_step(1);
        ctx.count_drops();
    }

    /// Processes packets from a demultiplexing port (a tunnel endpoint), each of which says
    /// which datapath port it was received on (`Packet::in_port`) and carries its tunnel
    /// metadata.
    pub fn process_demuxed_batch(
        &self,
        ctx: &mut PmdContext,
        batch: &mut Vec<Packet>,
        now_ms: u64,
    ) {
        let n = batch.len() as u64;
        for packet in batch.drain(..) {
            let in_port = packet.in_port;
            let port = ctx.port_counters(in_port);
            bump(&port.rx_packets, 1);
            bump(&port.rx_bytes, packet.len() as u64);
            self.stage(ctx, packet, PacketMeta::new(in_port), 0);
        }
        bump(&ctx.shared.counters.packets, n);
        self.run(ctx, now_ms);
        ctx.emc.sweep_step(1);
        ctx.count_drops();
    }

    /// Executes `actions` on one packet the slow path injects (an OpenFlow packet-out), as if
    /// it had hit a megaflow with those actions; recirculations it causes go through the
    /// caches as usual. Outputs are queued in `ctx`: send them with [`Datapath::transmit`].
    pub fn execute_packet(
        &self,
        ctx: &mut PmdContext,
        packet: Packet,
        meta: PacketMeta,
        actions: &[action::DpAction],
        now_ms: u64,
    ) {
        let mut key = FlowKey::ZERO;
        meta.write_to(&mut key);
        packet.tunnel.write_to(&mut key);
        let ex = extract(packet.data(), meta.in_port, &mut key);
        if let Some(m) = ex.malformed {
            ctx.drops.push((meta.in_port, DropReason::Malformed(m)));
            ctx.pool.put(packet);
            ctx.count_drops();
            return;
        }
        let headers = Headers::new(&key, ex.offsets.l3, ex.offsets.l4);
        let mut sink = Sink {
            out: &mut ctx.out,
            pool: &mut ctx.pool,
            recirc: &mut ctx.recirc,
            drops: &mut ctx.drops,
            conntrack: self.conntrack.as_deref(),
            userspace: self.userspace.get().map(|u| &**u),
            depth: 0,
        };
        action::execute(&mut sink, packet, &headers, &meta, actions, now_ms);
        self.run(ctx, now_ms);
        ctx.count_drops();
    }

    /// Extracts a packet's key and queues it for lookup (or drops it as malformed).
    fn stage(&self, ctx: &mut PmdContext, packet: Packet, meta: PacketMeta, depth: u8) {
        ctx.keys.push(FlowKey::ZERO);
        let key = ctx.keys.last_mut().expect("just pushed");
        meta.write_to(key);
        packet.tunnel.write_to(key);
        let ex = extract(packet.data(), meta.in_port, key);
        if let Some(m) = ex.malformed {
            ctx.keys.pop();
            ctx.drops.push((meta.in_port, DropReason::Malformed(m)));
            ctx.pool.put(packet);
            return;
        }
        let st = &mut ctx.staged;
        st.headers
            .push(Headers::new(key, ex.offsets.l3, ex.offsets.l4));
        st.packets.push(packet);
        st.metas.push(meta);
        st.depths.push(depth);
    }

    /// Runs staged packets (and their recirculations) to completion.
    fn run(&self, ctx: &mut PmdContext, now_ms: u64) {
        loop {
            while !ctx.staged.packets.is_empty() {
                let n = ctx.staged.packets.len().min(megaflow::MAX_BATCH);
                self.classify(ctx, n, now_ms);
            }
            // In arrival order, so packets of one flow leave in the order they came.
            let mut misses = std::mem::take(&mut ctx.misses);
            for miss in misses.drain(..) {
                self.handle_miss(ctx, miss, now_ms);
            }
            ctx.misses = misses;
            if ctx.recirc.is_empty() {
                return;
            }
            let mut pending = std::mem::take(&mut ctx.recirc);
            for p in pending.drain(..) {
                if p.depth >= self.config.max_recirc_depth {
                    ctx.drops.push((p.meta.in_port, DropReason::RecircDepth));
                    ctx.pool.put(p.packet);
                    continue;
                }
                bump(&ctx.shared.counters.recirculations, 1);
                self.stage(ctx, p.packet, p.meta, p.depth);
            }
            ctx.recirc = pending;
        }
    }

    /// Looks up and executes the first `n` staged packets under the table lock; misses are
    /// queued for [`Datapath::handle_miss`].
    fn classify(&self, ctx: &mut PmdContext, n: usize, now_ms: u64) {
        let shared = Arc::clone(&ctx.shared);
        let PmdContext {
            emc,
            emc_hasher,
            staged,
            keys,
            hashes,
            recirc,
            misses,
            drops,
            out,
            pool,
            ..
        } = ctx;
        let mut table = shared.lock();
        table.maybe_rank(now_ms);
        let table = &*table;

        let mut found: [Option<&Arc<MegaflowEntry>>; megaflow::MAX_BATCH] =
            [None; megaflow::MAX_BATCH];
        // Hash the whole batch first, then probe: the probes' cache misses then overlap
        // instead of each waiting for its own hash.
        for (h, k) in hashes[..n].iter_mut().zip(&keys[..n]) {
            *h = emc_hasher.hash_dp(k);
        }
        let mut want = 0u32;
        for i in 0..n {
            found[i] = emc.lookup(&keys[i], hashes[i]);
            if found[i].is_none() {
                want |= 1 << i;
            }
        }
        let emc_hits = n as u64 - u64::from(want.count_ones());
        let mut mega: [Option<&Arc<MegaflowEntry>>; megaflow::MAX_BATCH] =
            [None; megaflow::MAX_BATCH];
        let (mega_hits, searched) = if want != 0 {
            table.lookup_batch(&keys[..n], want, &mut mega)
        } else {
            (0, 0)
        };

        let mut sink = Sink {
            out,
            pool,
            recirc,
            drops,
            conntrack: self.conntrack.as_deref(),
            userspace: self.userspace.get().map(|u| &**u),
            depth: 0,
        };
        let Staged {
            packets,
            headers,
            metas,
            depths,
        } = staged;
        for (i, packet) in packets.drain(..n).enumerate() {
            match found[i].or(mega[i]) {
                Some(flow) => {
                    flow.record(1, packet.len() as u64, now_ms);
                    sink.depth = depths[i];
                    action::execute(
                        &mut sink,
                        packet,
                        &headers[i],
                        &metas[i],
                        flow.actions(),
                        now_ms,
                    );
                }
                None => misses.push(Miss {
                    work: Work {
                        packet,
                        headers: headers[i],
                        meta: metas[i],
                        depth: depths[i],
                    },
                    key: keys[i],
                }),
            }
        }
        staged.consume(n);
        let mut bits = mega_hits;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(flow) = mega[i] {
                emc.offer(&keys[i], hashes[i], flow);
            }
        }
        keys.drain(..n);
        let c = &shared.counters;
        bump(&c.microflow_hits, emc_hits);
        bump(&c.megaflow_hits, u64::from(mega_hits.count_ones()));
        bump(&c.subtables_searched, searched);
    }

    /// Resolves one miss: a late hit, or an upcall and install, or a drop.
    fn handle_miss(&self, ctx: &mut PmdContext, miss: Miss, now_ms: u64) {
        let shared = Arc::clone(&ctx.shared);
        let Miss { work, key } = miss;
        {
            // An earlier miss of this batch may have installed the flow already.
            let table = shared.lock();
            if let Some((flow, searched)) = table.lookup(&key) {
                let c = &shared.counters;
                bump(&c.megaflow_hits, 1);
                bump(&c.subtables_searched, searched as u64);
                let hash = ctx.emc_hasher.hash_dp(&key);
                ctx.emc.offer(&key, hash, flow);
                flow.record(1, work.packet.len() as u64, now_ms);
                self.execute_one(ctx, work, flow.actions(), now_ms);
                return;
            }
        }
        let in_port = work.meta.in_port;
        let (rate, burst) = (
            self.config.upcall_rate_per_port,
            self.config.upcall_burst_per_port,
        );
        let budget = ctx.budgets.entry(in_port).or_insert(Budget {
            milli: u64::from(burst) * 1000,
            last_ms: now_ms,
        });
        if !budget.take(now_ms, rate, burst) {
            bump(&shared.counters.lost, 1);
            ctx.drops.push((in_port, DropReason::UpcallLost));
            ctx.pool.put(work.packet);
            return;
        }
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let seq = self.reval_seq.load(Ordering::Acquire);
            bump(&shared.counters.upcalls, 1);
            let translation = match self.upcall.upcall(&key, work.packet.data()) {
                Ok(t) => t,
                Err(_) => {
                    ctx.drops.push((in_port, DropReason::UpcallFailed));
                    ctx.pool.put(work.packet);
                    return;
                }
            };
            let mut mask = translation.mask;
            mask.recirc_id = u32::MAX;
            self.make_room(&shared);
            let mut table = shared.lock();
            if self.reval_seq.load(Ordering::Acquire) != seq {
                if attempt < ATTEMPTS {
                    // Rules changed while we translated: the translation may be stale.
                    continue;
                }
                // Still racing revalidations: forward this packet, install nothing.
                drop(table);
                self.execute_one(ctx, work, &translation.actions, now_ms);
                return;
            }
            let (flow, _) = table.insert(&key, &mask, translation.actions, now_ms);
            shared.sync_len(&table);
            flow.record(1, work.packet.len() as u64, now_ms);
            let hash = ctx.emc_hasher.hash_dp(&key);
            ctx.emc.offer(&key, hash, &flow);
            self.execute_one(ctx, work, flow.actions(), now_ms);
            return;
        }
    }

    fn execute_one(
        &self,
        ctx: &mut PmdContext,
        w: Work,
        actions: &[action::DpAction],
        now_ms: u64,
    ) {
        let mut sink = Sink {
            out: &mut ctx.out,
            pool: &mut ctx.pool,
            recirc: &mut ctx.recirc,
            drops: &mut ctx.drops,
            conntrack: self.conntrack.as_deref(),
            userspace: self.userspace.get().map(|u| &**u),
            depth: w.depth,
        };
        action::execute(&mut sink, w.packet, &w.headers, &w.meta, actions, now_ms);
    }

    // ---- statistics ----

    /// Counters summed over every thread.
    pub fn stats(&self) -> DpStats {
        let mut s = DpStats {
            drops: vec![0; DropReason::count()],
            ..DpStats::default()
        };
        for t in self.threads() {
            s.add_thread(&t.counters);
            s.megaflows += t.megaflows.load(Ordering::Relaxed) as u64;
            for (_, p) in t.ports.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                s.add_port_drops(p);
            }
        }
        s.add_shared(&self.shared);
        s
    }

    /// The datapath's counters for input port `no`, summed over threads.
    pub fn port_dp_stats(&self, no: u32) -> PortDpStats {
        let mut s = PortDpStats::default();
        for t in self.threads() {
            for (p, c) in t.ports.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                if *p == no {
                    s.add(c);
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests;
