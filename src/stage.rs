//! Shard-aware staging, used when `aggregate`, `ordered` or `shardRateLimit` is on: records wait
//! in one group per predicted shard (or, without a shard map, per partition key), are aggregated
//! there, and leave in batches that respect each shard's rate and order.
//!
//! Without those options the dispatcher packs with `packing::Packer` alone.

use std::collections::VecDeque;

use crate::aggregate::{self, AggregateSize, Part};
use crate::dispatcher::RecordId;
use crate::limits::{Limits, SHARD_BYTES_PER_SECOND, SHARD_RECORDS_PER_SECOND};
use crate::packing::{Batch, RecordSize};
use crate::request::Entry;
use crate::shard_map::{decimal, hash_key_of, ShardMap};

/// A user record as accepted, before it is rendered (it may go into an aggregate).
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: RecordId,
    pub data: Vec<u8>,
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub hash_key: u128,
    /// Data bytes plus key UTF-8 bytes.
    pub size: usize,
    /// Times placed again after its aggregate landed on an unexpected shard.
    pub moves: u8,
}

impl UserRecord {
    pub fn new(id: RecordId, data: &[u8], partition_key: String, explicit_hash_key: Option<&str>, size: usize) -> Self {
        let hash_key = hash_key_for(&partition_key, explicit_hash_key);
        Self { id, data: data.to_vec(), partition_key, explicit_hash_key: explicit_hash_key.map(str::to_owned), hash_key, size, moves: 0 }
    }
}

/// The hash key a record goes to: its explicit hash key, or the MD5 of its partition key.
pub fn hash_key_for(partition_key: &str, explicit_hash_key: Option<&str>) -> u128 {
    explicit_hash_key.and_then(|h| h.parse().ok()).unwrap_or_else(|| hash_key_of(partition_key))
}

/// Which group a record waits in: a shard of the map (by id, stable across map refreshes), or,
/// without a map, its hash key: records with the same one (the same partition key, or the same
/// explicit hash key) land on the same shard whatever the map. Beyond `MAX_HASH_GROUPS` of
/// those, one shared group whose records go unaggregated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupKey {
    Shard(String),
    Hash(u128),
    Overflow,
}

/// Groups by hash key, without a shard map; each is looked for by a scan.
const MAX_HASH_GROUPS: usize = 1024;

/// What a shard-aware Kinesis record carries beyond a plain one.
#[derive(Debug)]
pub struct Placement {
    pub group: GroupKey,
    /// Where `group` was in the stage's list when the record was placed (checked before use).
    slot: usize,
    /// The hash key the record is sent with (for a raw record, its own).
    pub hash_key: u128,
    /// The user records of an aggregate; empty for a raw record.
    pub inner: Vec<UserRecord>,
}

/// One Kinesis record as sent: a user record, or an aggregate of several.
#[derive(Debug)]
pub struct Record {
    pub id: RecordId,
    /// The data as submitted (empty for an aggregate: its records hold theirs). Written into the
    /// body as base64 only when its request is built.
    pub data: Box<[u8]>,
    pub explicit_hash_key: Option<Box<str>>,
    /// Data bytes plus key bytes, as Kinesis counts this record.
    pub size: usize,
    pub partition_key: String,
    pub attempts: u32,
    pub placement: Option<Box<Placement>>,
}

impl RecordSize for Record {
    fn size(&self) -> usize {
        self.size
    }
}

impl Record {
    pub fn is_aggregate(&self) -> bool {
        self.placement.as_ref().is_some_and(|p| !p.inner.is_empty())
    }
}

struct Group {
    key: GroupKey,
    /// The aggregate being built (aggregation on).
    open: Vec<UserRecord>,
    open_size: AggregateSize,
    /// Closed records, oldest first.
    queue: VecDeque<Record>,
    /// Records of this group in flight.
    in_flight: u32,
    /// A retried record at the queue's front waits until then.
    retry_at: u64,
    /// The second (since the epoch) counted, and what was sent in it.
    window: (u64, usize, usize),
}

impl Group {
    fn new(key: GroupKey) -> Self {
        Self {
            key,
            open: Vec::new(),
            open_size: AggregateSize::default(),
            queue: VecDeque::new(),
            in_flight: 0,
            retry_at: 0,
            window: (0, 0, 0),
        }
    }

    fn is_empty(&self) -> bool {
        self.open.is_empty() && self.queue.is_empty() && self.in_flight == 0
    }

    /// Whether a record of `size` bytes fits this second's allowance (`rate`: records and
    /// bytes per second; none, no limit). A record alone in its second always goes.
    fn window_allows(&self, rate: Option<(usize, usize)>, size: usize, now_ms: u64) -> bool {
        let Some((records, bytes)) = rate else { return true };
        let (second, sent, sent_bytes) = self.window;
        second != now_ms / 1000 || sent == 0 || (sent < records && sent_bytes + size <= bytes)
    }

    fn count_sent(&mut self, size: usize, now_ms: u64) {
        let second = now_ms / 1000;
        if self.window.0 != second {
            self.window = (second, 0, 0);
        }
        self.window.1 += 1;
        self.window.2 += size;
    }
}

#[derive(Debug, Clone, Copy)]
pub struct StageConfig {
    pub aggregate: bool,
    pub max_aggregate_bytes: usize,
    pub ordered: bool,
    /// Records and bytes per shard per second, when limited.
    pub rate: Option<(usize, usize)>,
}

impl StageConfig {
    pub fn rate_of(fraction: f64) -> (usize, usize) {
        let records = ((SHARD_RECORDS_PER_SECOND as f64 * fraction) as usize).max(1);
        let bytes = ((SHARD_BYTES_PER_SECOND as f64 * fraction) as usize).max(1);
        (records, bytes)
    }
}

pub struct Stage {
    config: StageConfig,
    /// In no particular order; a `Vec` scanned round-robin (a map type costs 5 to 15 KB of wasm).
    groups: Vec<Group>,
    /// Slot in `groups` of each shard of the map in use, by the map's index.
    shard_slots: Vec<usize>,
    /// Records waiting for the shard map.
    pub unplaced: Vec<UserRecord>,
    /// Send everything queued without waiting for full batches (flush, linger, back-pressure).
    force: bool,
    queued: usize,
    queued_bytes: usize,
    /// Records in open aggregates: whether any is open, without a scan per submit.
    open_records: usize,
    /// Round-robin start, so no shard starves when batches fill up.
    cursor: usize,
}

impl Stage {
    pub fn new(config: StageConfig) -> Self {
        Self {
            config,
            groups: Vec::new(),
            shard_slots: Vec::new(),
            unplaced: Vec::new(),
            force: false,
            queued: 0,
            queued_bytes: 0,
            open_records: 0,
            cursor: 0,
        }
    }

    /// The slot of the group a record with these keys goes to, made if missing.
    fn slot_for(&mut self, hash_key: u128, map: Option<&ShardMap>) -> usize {
        if let Some((index, shard)) = map.and_then(|m| m.index_of(hash_key).and_then(|i| Some((i, m.shard_id(i)?)))) {
            if self.shard_slots.len() <= index {
                self.shard_slots.resize(index + 1, usize::MAX);
            }
            let slot = self.shard_slots[index];
            if slot < self.groups.len() && matches!(&self.groups[slot].key, GroupKey::Shard(s) if s == shard) {
                return slot;
            }
            let key = GroupKey::Shard(shard.to_owned());
            let slot = self.find(&key).unwrap_or_else(|| {
                self.groups.push(Group::new(key));
                self.groups.len() - 1
            });
            self.shard_slots[index] = slot;
            return slot;
        }
        if let Some(slot) = self.find(&GroupKey::Hash(hash_key)) {
            return slot;
        }
        let hash_groups = self.groups.iter().filter(|g| matches!(g.key, GroupKey::Hash(_))).count();
        let key = if hash_groups < MAX_HASH_GROUPS { GroupKey::Hash(hash_key) } else { GroupKey::Overflow };
        self.find(&key).unwrap_or_else(|| {
            self.groups.push(Group::new(key));
            self.groups.len() - 1
        })
    }

    fn find(&self, key: &GroupKey) -> Option<usize> {
        self.groups.iter().position(|g| g.key == *key)
    }

    /// The slot of a placed record's group, if it is still there.
    fn slot_of(&self, placement: &Placement) -> Option<usize> {
        match self.groups.get(placement.slot) {
            Some(g) if g.key == placement.group => Some(placement.slot),
            _ => self.find(&placement.group),
        }
    }

    /// Puts a record in its group: in the open aggregate, or queued as it is.
    pub fn place(&mut self, record: UserRecord, map: Option<&ShardMap>, limits: &Limits) {
        let slot = self.slot_for(record.hash_key, map);
        let limit = self.config.max_aggregate_bytes.min(limits.record_ceiling());
        let aggregate = self.config.aggregate;
        let (queued, queued_bytes, open_records) = (&mut self.queued, &mut self.queued_bytes, &mut self.open_records);
        let group = &mut self.groups[slot];
        if !aggregate || group.key == GroupKey::Overflow {
            let unit = raw(record, group.key.clone(), slot);
            push_unit(group, unit, queued, queued_bytes);
            return;
        }
        let fits = |g: &Group, r: &UserRecord| {
            let key_len = g.open.first().map_or(r.partition_key.len(), |f| f.partition_key.len());
            g.open_size.data_bytes() + g.open_size.added_by(&r.partition_key, r.explicit_hash_key.as_deref(), r.data.len()) + key_len
                <= limit
        };
        // Decoders read a missing explicit hash key index as 0: records with and without one
        // never share an aggregate.
        let mixed = group.open.first().is_some_and(|f| f.explicit_hash_key.is_some() != record.explicit_hash_key.is_some());
        if !group.open.is_empty() && (mixed || !fits(group, &record)) {
            *open_records -= group.open.len();
            close_open(group, slot, queued, queued_bytes);
        }
        if !fits(group, &record) {
            // Too big to share an aggregate: it goes on its own, in its group's order.
            let unit = raw(record, group.key.clone(), slot);
            push_unit(group, unit, queued, queued_bytes);
            return;
        }
        group.open_size.add(&record.partition_key, record.explicit_hash_key.as_deref(), record.data.len());
        group.open.push(record);
        *open_records += 1;
    }

    /// Closes every open aggregate and sends what is queued without waiting for full batches.
    pub fn force(&mut self) {
        self.close_open_where(|_| true);
    }

    /// `force`, closing only the open aggregates of groups that could send them now (nothing
    /// queued before them; ordered, nothing in flight): the others go on filling.
    pub fn force_idle(&mut self) {
        let ordered = self.config.ordered;
        self.close_open_where(|g| g.queue.is_empty() && !(ordered && g.in_flight > 0));
    }

    fn close_open_where(&mut self, close: impl Fn(&Group) -> bool) {
        for (slot, group) in self.groups.iter_mut().enumerate() {
            if close(group) {
                self.open_records -= group.open.len();
                close_open(group, slot, &mut self.queued, &mut self.queued_bytes);
            }
        }
        self.force = true;
    }

    /// Whether a batch should go now: forced, or enough is queued for a full one. Ordered, at
    /// once: each shard has one request at a time, so waiting to fill one only adds latency.
    fn ready(&self, limits: &Limits) -> bool {
        self.queued > 0
            && (self.force || self.config.ordered || self.queued >= limits.max_batch_size || self.queued_bytes >= limits.max_request_bytes)
    }

    /// Whether an aggregate is open (or a record waits for the map).
    pub fn has_open(&self) -> bool {
        debug_assert_eq!(self.open_records, self.groups.iter().map(|g| g.open.len()).sum::<usize>());
        !self.unplaced.is_empty() || self.open_records > 0
    }

    /// Whether anything is open or queued (not in flight).
    pub fn holds_records(&self) -> bool {
        self.queued > 0 || self.has_open()
    }

    pub fn has_ready(&self, limits: &Limits, now_ms: u64) -> bool {
        self.ready(limits) && self.groups.iter().any(|g| self.can_send_from(g, now_ms))
    }

    fn can_send_from(&self, g: &Group, now_ms: u64) -> bool {
        let Some(front) = g.queue.front() else { return false };
        now_ms >= g.retry_at && !(self.config.ordered && g.in_flight > 0) && self.rate_allows(g, front.size, now_ms)
    }

    fn rate_allows(&self, g: &Group, size: usize, now_ms: u64) -> bool {
        // Without a map there are no shards to count for: the limiter is off.
        g.window_allows(self.config.rate.filter(|_| matches!(g.key, GroupKey::Shard(_))), size, now_ms)
    }

    /// The next batch to send now, if one should go.
    /// With `ordered`, a batch takes from about 1 / `max_in_flight` of the shards that can
    /// send, so that requests to different shards overlap (each shard has one in flight).
    pub fn take_batch(&mut self, limits: &Limits, now_ms: u64, max_in_flight: usize) -> Option<Batch<Record>> {
        if !self.ready(limits) {
            return None;
        }
        let spread = if self.config.ordered {
            let sendable = self.groups.iter().filter(|g| self.can_send_from(g, now_ms)).count();
            sendable.div_ceil(max_in_flight.max(1)).max(1)
        } else {
            usize::MAX
        };
        let mut groups_taken = 0;
        let mut batch = Batch { records: Vec::new(), bytes: 0 };
        let count = self.groups.len();
        let ordered = self.config.ordered;
        let start = self.cursor + 1;
        for step in 0..count {
            if batch.records.len() >= limits.max_batch_size || groups_taken >= spread {
                break;
            }
            let slot = (start + step) % count;
            if !self.can_send_from(&self.groups[slot], now_ms) {
                continue;
            }
            let limited = self.config.rate.filter(|_| matches!(self.groups[slot].key, GroupKey::Shard(_)));
            let group = &mut self.groups[slot];
            let mut keys_taken: Vec<String> = Vec::new();
            let mut took_aggregate = false;
            while let Some(front) = group.queue.front() {
                if batch.records.len() >= limits.max_batch_size || batch.bytes + front.size > limits.max_request_bytes {
                    break;
                }
                if !group.window_allows(limited, front.size, now_ms) {
                    break;
                }
                // Ordered: the service may store one request's records in any order, so a
                // request carries at most one aggregate per shard, or raw records of distinct keys.
                if ordered
                    && (took_aggregate || (front.is_aggregate() && !keys_taken.is_empty()) || keys_taken.contains(&front.partition_key))
                {
                    break;
                }
                let record = group.queue.pop_front().expect("front");
                took_aggregate |= record.is_aggregate();
                if ordered && !record.is_aggregate() {
                    keys_taken.push(record.partition_key.clone());
                }
                group.count_sent(record.size, now_ms);
                group.in_flight += 1;
                self.queued -= 1;
                self.queued_bytes -= record.size;
                batch.bytes += record.size;
                batch.records.push(record);
            }
            groups_taken += 1;
            self.cursor = slot;
        }
        if self.queued == 0 && !self.has_open() {
            self.force = false;
        }
        (!batch.records.is_empty()).then_some(batch)
    }

    /// When a group that has something to send may send it, if waiting on time.
    pub fn next_due(&self, limits: &Limits, now_ms: u64) -> Option<u64> {
        if !self.ready(limits) {
            return None;
        }
        self.groups
            .iter()
            .filter(|g| !(g.queue.is_empty() || (self.config.ordered && g.in_flight > 0)))
            .map(|g| {
                let mut at = g.retry_at;
                if let Some(front) = g.queue.front() {
                    if !self.rate_allows(g, front.size, now_ms.max(at)) {
                        at = at.max((now_ms / 1000 + 1) * 1000);
                    }
                }
                at
            })
            .min()
    }

    /// A record of `group` ended (acknowledged, failed or taken back for placing again).
    pub fn ended(&mut self, placement: &Placement) {
        if let Some(slot) = self.slot_of(placement) {
            let g = &mut self.groups[slot];
            g.in_flight = g.in_flight.saturating_sub(1);
        }
        // Groups of keys come and go: drop the empty ones once they are many.
        if self.groups.len() > 2 * self.shard_slots.len() + 64 {
            self.groups.retain(|g| matches!(g.key, GroupKey::Shard(_)) || !g.is_empty());
            self.reindex_shards();
        }
    }

    fn reindex_shards(&mut self) {
        self.shard_slots.clear();
        self.cursor = 0;
    }

    /// Puts records back at the front of their groups, in their order, to go again after `at`.
    /// They were sent once: they go without waiting for a full batch.
    pub fn requeue(&mut self, records: Vec<Record>, at: u64) {
        self.force = true;
        for record in records.into_iter().rev() {
            let Some(placement) = record.placement.as_deref() else { continue };
            let slot = self.slot_of(placement).unwrap_or_else(|| {
                self.groups.push(Group::new(placement.group.clone()));
                self.groups.len() - 1
            });
            let group = &mut self.groups[slot];
            group.retry_at = group.retry_at.max(at);
            self.queued += 1;
            self.queued_bytes += record.size;
            group.queue.push_front(record);
        }
    }

    /// Takes every record not in flight out of the stage: closed records (oldest group first)
    /// and user records still open or unplaced.
    pub fn drain(&mut self) -> (Vec<Record>, Vec<UserRecord>) {
        let mut records = Vec::new();
        let mut users = Vec::new();
        for group in &mut self.groups {
            records.extend(group.queue.drain(..));
            users.append(&mut group.open);
            group.open_size = AggregateSize::default();
        }
        users.append(&mut self.unplaced);
        self.open_records = 0;
        self.groups.retain(|g| g.in_flight > 0);
        self.reindex_shards();
        self.queued = 0;
        self.queued_bytes = 0;
        self.force = false;
        (records, users)
    }

    /// After the shard map changed: every record not in flight is placed again under `map`
    /// (aggregates are opened up), each key's records in their order: a group's closed records
    /// before its open ones, and records waiting for the map (newer, or sent once already) last.
    pub fn regroup(&mut self, map: Option<&ShardMap>, limits: &Limits) {
        let force = self.force;
        let (records, again) = self.drain();
        for mut record in records {
            let Some(p) = record.placement.as_mut() else { continue };
            if !p.inner.is_empty() {
                for user in std::mem::take(&mut p.inner) {
                    self.place(user, map, limits);
                }
                continue;
            }
            let slot = self.slot_for(p.hash_key, map);
            p.slot = slot;
            p.group = self.groups[slot].key.clone();
            // What was placed before it goes before it.
            self.open_records -= self.groups[slot].open.len();
            close_open(&mut self.groups[slot], slot, &mut self.queued, &mut self.queued_bytes);
            push_unit(&mut self.groups[slot], record, &mut self.queued, &mut self.queued_bytes);
        }
        for user in again {
            self.place(user, map, limits);
        }
        if force {
            self.force();
        }
    }

    /// Opens a sent aggregate up again, to be placed anew (its shard was not the one predicted).
    pub fn unplace(&mut self, inner: Vec<UserRecord>) {
        self.unplaced.extend(inner);
        // Sent once already: they go as soon as they are placed again.
        self.force = true;
    }
}

fn raw(user: UserRecord, group: GroupKey, slot: usize) -> Record {
    Record {
        id: user.id,
        data: user.data.into(),
        explicit_hash_key: user.explicit_hash_key.map(Into::into),
        size: user.size,
        partition_key: user.partition_key,
        attempts: 0,
        placement: Some(Box::new(Placement { group, slot, hash_key: user.hash_key, inner: Vec::new() })),
    }
}

fn push_unit(group: &mut Group, record: Record, queued: &mut usize, queued_bytes: &mut usize) {
    *queued += 1;
    *queued_bytes += record.size;
    group.queue.push_back(record);
}

/// Closes a group's open aggregate: one record goes raw, more go as one aggregated record whose
/// keys send it to the shard its records were predicted for.
fn close_open(group: &mut Group, slot: usize, queued: &mut usize, queued_bytes: &mut usize) {
    let inner = std::mem::take(&mut group.open);
    let data_bytes = std::mem::take(&mut group.open_size).data_bytes();
    let record = match inner.len() {
        0 => return,
        1 => raw(inner.into_iter().next().expect("one"), group.key.clone(), slot),
        _ => {
            let partition_key = inner[0].partition_key.clone();
            Record {
                id: inner[0].id,
                // Encoded when sent (`Record::entry`): held as its records' data alone.
                data: Box::default(),
                explicit_hash_key: None,
                size: data_bytes + partition_key.len(),
                partition_key,
                attempts: 0,
                placement: Some(Box::new(Placement { group: group.key.clone(), slot, hash_key: inner[0].hash_key, inner })),
            }
        }
    };
    push_unit(group, record, queued, queued_bytes);
}

impl Record {
    /// What its PutRecords entry is written from. An aggregate is encoded here, and its keys send
    /// it to the shard its records were predicted for. By shard: the first record's hash key,
    /// inside that shard's range. By key: the records' own explicit hash key, the same for all.
    pub fn entry(&self) -> Entry<'_> {
        let Some(placement) = self.placement.as_ref().filter(|p| !p.inner.is_empty()) else {
            return Entry {
                data: (*self.data).into(),
                partition_key: &self.partition_key,
                explicit_hash_key: self.explicit_hash_key.as_deref().map(Into::into),
            };
        };
        let data = aggregate::encode(placement.inner.iter().map(|r| Part {
            partition_key: &r.partition_key,
            explicit_hash_key: r.explicit_hash_key.as_deref(),
            data: &r.data,
        }));
        debug_assert_eq!(data.len() + self.partition_key.len(), self.size, "the running size is the encoded size");
        let first = &placement.inner[0];
        let explicit_hash_key = match placement.group {
            GroupKey::Shard(_) => Some(decimal(first.hash_key).into()),
            GroupKey::Hash(_) | GroupKey::Overflow => first.explicit_hash_key.as_deref().map(Into::into),
        };
        Entry { data: data.into(), partition_key: &self.partition_key, explicit_hash_key }
    }
}
