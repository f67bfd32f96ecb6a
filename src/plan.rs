//! Planning without sending: the requests a dispatcher would make, the Kinesis records in them,
//! the records it would refuse, and per predicted shard the load and the hottest partition keys.
//!
//! With aggregation on, records go through the dispatcher's own `Stage` (grouped by predicted
//! shard, aggregated, batched), so the plan's Kinesis records are the ones the engine sends.

use crate::error::{OptionError, RecordError};
use crate::limits::Limits;
use crate::packing::{Batch, Packer, RecordSize};
use crate::partition_key::{KeyPath, KeySource};
use crate::record::{accept, Entropy, KeyInput};
use crate::shard_map::{hash_key_of, ShardMap};
use crate::stage::{hash_key_for, Stage, StageConfig, UserRecord};

/// Kinesis counts writes in 25 KB PUT payload units.
pub const PAYLOAD_UNIT_BYTES: usize = 25_600;
/// How many partition keys each shard lists, hottest first.
pub const HOT_KEYS: usize = 5;

/// The PUT payload units of one Kinesis record of `size` bytes (data plus partition key).
pub fn payload_units(size: usize) -> usize {
    size.div_ceil(PAYLOAD_UNIT_BYTES).max(1)
}

struct Planned {
    index: usize,
    partition_key: String,
    size: usize,
    shard: Option<usize>,
}

impl RecordSize for Planned {
    fn size(&self) -> usize {
        self.size
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBatch {
    /// Input positions of the batch's user records (an aggregate's in its order).
    pub indices: Vec<usize>,
    pub partition_keys: Vec<String>,
    /// The size (data plus key bytes) of each Kinesis record in the request: as many as
    /// `indices` unless aggregated.
    pub kinesis_sizes: Vec<usize>,
    /// The Kinesis records' data plus key bytes.
    pub bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: usize,
    pub error: RecordError,
}

/// User records and their data plus key bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLoad {
    pub partition_key: String,
    pub records: usize,
    pub bytes: usize,
}

/// What one shard of the map would receive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardLoad {
    pub shard_id: String,
    /// User records and their data plus key bytes.
    pub records: usize,
    pub bytes: usize,
    pub kinesis_records: usize,
    pub payload_units: usize,
    /// At most `HOT_KEYS`, by records then bytes, first seen first on ties.
    pub hot_keys: Vec<KeyLoad>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOutput {
    /// One per PutRecords request.
    pub batches: Vec<PlannedBatch>,
    pub rejected: Vec<Rejected>,
    pub kinesis_records: usize,
    pub payload_units: usize,
    /// In the shard map's order; empty without a map.
    pub shards: Vec<ShardLoad>,
}

pub struct Planner {
    limits: Limits,
    key_source: KeySource,
    packer: Packer<Planned>,
    /// Aggregation on: the dispatcher's staging, which groups, aggregates and batches.
    stage: Option<Stage>,
    map: Option<ShardMap>,
    batches: Vec<PlannedBatch>,
    rejected: Vec<Rejected>,
    next_index: usize,
    kinesis_records: usize,
    payload_units: usize,
    shards: Vec<ShardLoad>,
    keys: KeyTable,
}

impl Planner {
    pub fn new(limits: Limits, partition_key_identifier: Option<&str>) -> Result<Self, OptionError> {
        let key_source = match partition_key_identifier {
            None => KeySource::Random,
            Some(identifier) => KeySource::Path(KeyPath::parse(identifier)?),
        };
        Ok(Self {
            packer: Packer::new(limits),
            limits,
            key_source,
            stage: None,
            map: None,
            batches: Vec::new(),
            rejected: Vec::new(),
            next_index: 0,
            kinesis_records: 0,
            payload_units: 0,
            shards: Vec::new(),
            keys: KeyTable::default(),
        })
    }

    /// Predicts shards with `map`: the per-shard loads and, aggregating, the groups.
    pub fn with_shard_map(mut self, map: ShardMap) -> Self {
        self.shards = (0..map.len())
            .map(|i| ShardLoad { shard_id: map.shard_id(i).unwrap_or_default().to_owned(), ..ShardLoad::default() })
            .collect();
        self.map = Some(map);
        self
    }

    /// Aggregates as the dispatcher does with `aggregate: true`: by predicted shard with a map,
    /// by partition and explicit hash key without one (the dispatcher's fallback).
    pub fn with_aggregation(mut self, max_aggregate_bytes: usize) -> Self {
        self.stage = Some(Stage::new(StageConfig { aggregate: true, max_aggregate_bytes, ordered: false, rate: None }));
        self
    }

    /// Plans the next input record (index counts every call, rejected ones included).
    pub fn add(
        &mut self,
        data: &[u8],
        key: KeyInput,
        explicit_hash_key: Option<&str>,
        entropy: &mut dyn Entropy,
    ) -> Result<(), RecordError> {
        let index = self.next_index;
        self.next_index += 1;
        match accept(&self.limits, &self.key_source, data, key, explicit_hash_key, entropy) {
            Ok(a) => {
                let (partition_key, size) = (a.partition_key, a.size);
                let hash_key = hash_key_for(&partition_key, explicit_hash_key);
                let shard = self.map.as_ref().and_then(|m| m.index_of(hash_key));
                if let Some(load) = shard.and_then(|s| self.shards.get_mut(s)) {
                    load.records += 1;
                    load.bytes += size;
                    let key_hash = if explicit_hash_key.is_some() { hash_key_of(&partition_key) } else { hash_key };
                    self.keys.add(shard.unwrap_or_default(), &partition_key, key_hash, size);
                }
                match &mut self.stage {
                    Some(stage) => stage.place(
                        UserRecord::new(index as u64, data, partition_key, explicit_hash_key, size),
                        self.map.as_ref(),
                        &self.limits,
                    ),
                    None => self.packer.push(Planned { index, partition_key, size, shard }),
                }
                self.collect();
                Ok(())
            }
            Err(error) => {
                self.rejected.push(Rejected { index, error: error.clone() });
                Err(error)
            }
        }
    }

    /// Records an input that failed before reaching the core (e.g. unparsable).
    pub fn reject(&mut self, error: RecordError) {
        self.rejected.push(Rejected { index: self.next_index, error });
        self.next_index += 1;
    }

    /// Counts one Kinesis record sent.
    fn sent(&mut self, shard: Option<usize>, size: usize) {
        let units = payload_units(size);
        self.kinesis_records += 1;
        self.payload_units += units;
        if let Some(load) = shard.and_then(|s| self.shards.get_mut(s)) {
            load.kinesis_records += 1;
            load.payload_units += units;
        }
    }

    fn collect(&mut self) {
        while let Some(Batch { records, bytes }) = self.packer.pop_ready() {
            let mut batch = PlannedBatch { indices: Vec::new(), partition_keys: Vec::new(), kinesis_sizes: Vec::new(), bytes };
            for r in records {
                self.sent(r.shard, r.size);
                batch.kinesis_sizes.push(r.size);
                batch.indices.push(r.index);
                batch.partition_keys.push(r.partition_key);
            }
            self.batches.push(batch);
        }
        while let Some(Batch { records, bytes }) = self.stage.as_mut().and_then(|s| s.take_batch(&self.limits, 0, 1)) {
            let mut batch = PlannedBatch { indices: Vec::new(), partition_keys: Vec::new(), kinesis_sizes: Vec::new(), bytes };
            for r in records {
                // Staged records always carry their placement.
                let Some(placement) = r.placement else { continue };
                if let Some(stage) = &mut self.stage {
                    stage.ended(&placement);
                }
                self.sent(self.map.as_ref().and_then(|m| m.index_of(placement.hash_key)), r.size);
                batch.kinesis_sizes.push(r.size);
                if placement.inner.is_empty() {
                    batch.indices.push(r.id as usize);
                    batch.partition_keys.push(r.partition_key);
                }
                for user in placement.inner {
                    batch.indices.push(user.id as usize);
                    batch.partition_keys.push(user.partition_key);
                }
            }
            self.batches.push(batch);
        }
    }

    pub fn finish(mut self) -> PlanOutput {
        self.packer.close();
        if let Some(stage) = &mut self.stage {
            stage.force();
        }
        self.collect();
        std::mem::take(&mut self.keys).hottest(&mut self.shards);
        PlanOutput {
            batches: self.batches,
            rejected: self.rejected,
            kinesis_records: self.kinesis_records,
            payload_units: self.payload_units,
            shards: self.shards,
        }
    }
}

/// Records and bytes per (shard, partition key): open addressing on the key's MD5, which the
/// shard prediction has computed already (a `HashMap` costs about 5 KB of wasm).
#[derive(Default)]
struct KeyTable {
    /// In first-seen order, with each one's shard and slot hash (`Vec<usize>`s: no new
    /// instantiation in the wasm).
    loads: Vec<KeyLoad>,
    shards: Vec<usize>,
    hashes: Vec<usize>,
    /// Entry index plus one; 0 is free. A power of two long, at most half full.
    slots: Vec<usize>,
}

impl KeyTable {
    fn add(&mut self, shard: usize, partition_key: &str, key_hash: u128, bytes: usize) {
        if self.loads.len() * 2 >= self.slots.len() {
            self.slots = vec![0; (self.slots.len() * 2).max(64)];
            for i in 0..self.loads.len() {
                let at = self.free_slot(self.hashes[i]);
                self.slots[at] = i + 1;
            }
        }
        let hash = (key_hash as usize) ^ shard.wrapping_mul(0x9E37_79B9);
        let mask = self.slots.len() - 1;
        let mut at = hash & mask;
        while let Some(i) = self.slots[at].checked_sub(1) {
            let load = &mut self.loads[i];
            if self.shards[i] == shard && load.partition_key == partition_key {
                load.records += 1;
                load.bytes += bytes;
                return;
            }
            at = (at + 1) & mask;
        }
        self.loads.push(KeyLoad { partition_key: partition_key.to_owned(), records: 1, bytes });
        self.shards.push(shard);
        self.hashes.push(hash);
        self.slots[at] = self.loads.len();
    }

    fn free_slot(&self, hash: usize) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = hash & mask;
        while self.slots[at] != 0 {
            at = (at + 1) & mask;
        }
        at
    }

    /// Each shard's `HOT_KEYS` hottest keys.
    fn hottest(self, shards: &mut [ShardLoad]) {
        for (load, shard) in self.loads.into_iter().zip(self.shards) {
            let Some(hot) = shards.get_mut(shard).map(|s| &mut s.hot_keys) else { continue };
            let at = hot.iter().position(|h| (load.records, load.bytes) > (h.records, h.bytes)).unwrap_or(hot.len());
            if at < HOT_KEYS {
                hot.insert(at, load);
                hot.truncate(HOT_KEYS);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RecordErrorCode;
    use crate::record::SeededEntropy;
    use crate::shard_map::{hash_key_of, ShardMap};

    #[test]
    fn plans_batches_and_rejections_by_index() {
        let limits = Limits { max_batch_size: 2, max_record_bytes: 20, max_request_bytes: 100, ..Limits::default() };
        assert_eq!(Planner::new(limits, Some("")).err().unwrap().option, "partitionKeyIdentifier");
        let mut p = Planner::new(limits, Some("id")).unwrap();
        let e = &mut SeededEntropy(3);
        p.add(br#"{"id":"a"}"#, KeyInput::Default, None, e).unwrap();
        assert!(p.add(br#"{"x":"a"}"#, KeyInput::Default, None, e).is_err());
        p.add(br#"{"id":"b","x":1}"#, KeyInput::Default, None, e).unwrap();
        assert!(p.add(br#"{"id":"c","x":12345}"#, KeyInput::Default, None, e).is_err());
        p.add(b"{}", KeyInput::Given("d"), None, e).unwrap();
        let PlanOutput { batches, rejected, .. } = p.finish();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].indices, [0, 2]);
        assert_eq!(batches[0].partition_keys, ["a", "b"]);
        assert_eq!(batches[0].bytes, 28);
        assert_eq!(batches[1].indices, [4]);
        assert_eq!(
            rejected.iter().map(|r| (r.index, r.error.code)).collect::<Vec<_>>(),
            [(1, RecordErrorCode::MissingPartitionKey), (3, RecordErrorCode::RecordTooLarge)]
        );
    }

    fn sizes(batches: &[PlannedBatch]) -> Vec<usize> {
        batches.iter().flat_map(|b| b.kinesis_sizes.iter().copied()).collect()
    }

    #[test]
    fn payload_units_are_25_kb_each_at_least_one() {
        assert_eq!([0, 1, 25_600, 25_601, 51_200, 51_201].map(payload_units), [1, 1, 1, 2, 2, 3]);
    }

    #[test]
    fn aggregation_groups_by_shard_and_keeps_the_stage_rules() {
        let limits = Limits::default();
        let e = &mut SeededEntropy(3);
        // Two shards; "a" and "c" land on shard 0, "b" on shard 1.
        let map = ShardMap::even(2);
        let shard = |k: &str| map.index_of(hash_key_of(k)).unwrap();
        assert_eq!((shard("a"), shard("b"), shard("c")), (0, 1, 0));
        let mut p = Planner::new(limits, None).unwrap().with_shard_map(map.clone()).with_aggregation(200);
        let data = [b'x'; 40];
        for key in ["a", "c", "a", "b"] {
            p.add(&data, KeyInput::Given(key), None, e).unwrap();
        }
        // With an explicit hash key: never in the same aggregate as the records without one.
        p.add(&data, KeyInput::Given("a"), Some("0"), e).unwrap();
        // Too big to share an aggregate of 200 bytes: alone.
        p.add(&[b'y'; 300], KeyInput::Given("c"), None, e).unwrap();
        let out = p.finish();
        assert_eq!(out.batches.len(), 1);
        let b = &out.batches[0];
        assert_eq!(b.indices.len(), 6);
        // Shard 1: "b" alone, raw (41 bytes). Shard 0: an aggregate of a, c, a; then the explicit
        // one, raw; then the big one, raw.
        let mut got = sizes(&out.batches);
        got.sort_unstable();
        let mut agg = crate::aggregate::AggregateSize::default();
        for k in ["a", "c", "a"] {
            agg.add(k, None, 40);
        }
        let mut want = vec![41, 41, 301, agg.data_bytes() + 1];
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(out.kinesis_records, 4);
        assert_eq!(out.payload_units, 4);
        assert_eq!((out.shards[1].records, out.shards[1].kinesis_records), (1, 1));
        assert_eq!((out.shards[0].records, out.shards[0].kinesis_records), (5, 3));
        let hot: Vec<(&str, usize, usize)> =
            out.shards[0].hot_keys.iter().map(|k| (k.partition_key.as_str(), k.records, k.bytes)).collect();
        assert_eq!(hot, [("a", 3, 123), ("c", 2, 342)]);
        assert_eq!(out.shards[1].hot_keys[0].partition_key, "b");
    }

    #[test]
    fn without_aggregation_every_user_record_is_a_kinesis_record() {
        let limits = Limits { max_batch_size: 3, ..Limits::default() };
        let e = &mut SeededEntropy(3);
        let mut p = Planner::new(limits, None).unwrap().with_shard_map(ShardMap::even(3));
        for i in 0..40 {
            p.add(&vec![b'x'; 30_000 * (i % 2)], KeyInput::Given(&format!("k{}", i % 7)), None, e).unwrap();
        }
        let out = p.finish();
        assert_eq!(out.batches.len(), 14);
        assert_eq!(out.kinesis_records, 40);
        assert_eq!(out.payload_units, 20 + 20 * 2);
        assert_eq!(out.shards.iter().map(|s| s.kinesis_records).sum::<usize>(), 40);
        assert_eq!(out.shards.iter().map(|s| s.records).sum::<usize>(), 40);
        for s in &out.shards {
            assert!(s.hot_keys.len() <= HOT_KEYS);
            assert!(s.hot_keys.windows(2).all(|w| (w[0].records, w[0].bytes) >= (w[1].records, w[1].bytes)));
            assert_eq!(s.hot_keys.iter().map(|k| k.records).sum::<usize>(), s.records, "fewer than 6 keys per shard");
        }
    }

    #[test]
    fn hot_keys_are_the_top_five_and_count_every_record() {
        let e = &mut SeededEntropy(3);
        let mut p = Planner::new(Limits::default(), None).unwrap().with_shard_map(ShardMap::even(1));
        // Key kN gets N records; 300 keys force the table to grow a few times.
        for n in 0..300usize {
            for _ in 0..(n % 10) {
                p.add(b"ab", KeyInput::Given(&format!("k{n:03}")), None, e).unwrap();
            }
        }
        let out = p.finish();
        let hot: Vec<(&str, usize)> = out.shards[0].hot_keys.iter().map(|k| (k.partition_key.as_str(), k.records)).collect();
        assert_eq!(hot, [("k009", 9), ("k019", 9), ("k029", 9), ("k039", 9), ("k049", 9)]);
        assert_eq!(out.shards[0].hot_keys[0].bytes, 9 * 6);
    }
}
