//! Which shard a partition key lands on: MD5 of the key's UTF-8 bytes, read as a
//! big-endian u128, placed in a shard's hash-key range.

use md5::{Digest, Md5};

pub fn hash_key_of(partition_key: &str) -> u128 {
    u128::from_be_bytes(md5(partition_key.as_bytes()))
}

/// MD5, in one place: each `Md5::digest` call site instantiates the hasher again.
#[inline(never)]
pub fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

/// A hash key in decimal, as Kinesis writes it. Digit by digit: `u128`'s `Display` costs about
/// 1.5 KB of wasm.
pub fn decimal(mut value: u128) -> String {
    let mut digits = [b'0'; 39];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    digits[at..].iter().map(|&d| d as char).collect()
}

/// The index of the shard holding `hash_key` among `shard_count` shards split evenly
/// as CreateStream splits them: each range is floor(2^128 / n) wide and the last
/// shard takes the remainder.
pub fn shard_index_for_hash(hash_key: u128, shard_count: u32) -> u32 {
    if shard_count <= 1 {
        return 0;
    }
    let n = shard_count as u128;
    // floor(2^128 / n) without overflowing: 2^128 = u128::MAX + 1.
    let width = u128::MAX / n + u128::from(u128::MAX % n == n - 1);
    ((hash_key / width) as u32).min(shard_count - 1)
}

pub fn shard_index_for(partition_key: &str, shard_count: u32) -> u32 {
    shard_index_for_hash(hash_key_of(partition_key), shard_count)
}

/// Real shard ranges, as ListShards or DescribeStream report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMap {
    /// (starting hash key, ending hash key, shard id), sorted by start.
    ranges: Vec<(u128, u128, String)>,
}

impl ShardMap {
    /// Builds a map from open shards' ranges; they must not overlap.
    pub fn from_ranges(mut ranges: Vec<(u128, u128, String)>) -> Result<Self, String> {
        crate::insertion_sort_by(&mut ranges, |a, b| a.0 < b.0);
        for w in ranges.windows(2) {
            if w[1].0 <= w[0].1 {
                return Err(format!("shards {} and {} overlap", w[0].2, w[1].2));
            }
        }
        if ranges.iter().any(|r| r.0 > r.1) {
            return Err("a shard's starting hash key is above its ending hash key".into());
        }
        Ok(Self { ranges })
    }

    /// Even split for `shard_count` shards, as CreateStream makes it.
    pub fn even(shard_count: u32) -> Self {
        let n = shard_count.max(1);
        let ranges = (0..n)
            .map(|i| {
                let start = first_hash_key_of_shard(i, n);
                let end = if i + 1 == n { u128::MAX } else { first_hash_key_of_shard(i + 1, n) - 1 };
                (start, end, format!("shardId-{i:012}"))
            })
            .collect();
        Self { ranges }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The index (in start order) of the shard holding `hash_key`, if any.
    pub fn index_of(&self, hash_key: u128) -> Option<usize> {
        let i = self.ranges.partition_point(|r| r.0 <= hash_key).checked_sub(1)?;
        (hash_key <= self.ranges[i].1).then_some(i)
    }

    pub fn shard_id(&self, index: usize) -> Option<&str> {
        self.ranges.get(index).map(|r| r.2.as_str())
    }
}

fn first_hash_key_of_shard(index: u32, shard_count: u32) -> u128 {
    if index == 0 {
        return 0;
    }
    let n = shard_count as u128;
    let width = u128::MAX / n + u128::from(u128::MAX % n == n - 1);
    width * index as u128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_key_matches_the_contract_example() {
        assert_eq!(hash_key_of("pk-1").to_string(), "273922656776327812788301823748127981641");
        for v in [0, 7, 10, u64::MAX as u128, u128::MAX, hash_key_of("pk-1")] {
            assert_eq!(decimal(v), v.to_string());
        }
    }

    #[test]
    fn hash_key_is_over_utf8_bytes() {
        assert_eq!(format!("{:032x}", hash_key_of("é")), "66ddcd97cfdeabb2f6fb8a999b4bc76f");
    }

    #[test]
    fn even_split_edges() {
        assert_eq!(shard_index_for_hash(0, 4), 0);
        assert_eq!(shard_index_for_hash(u128::MAX, 4), 3);
        let quarter = 1u128 << 126;
        assert_eq!(shard_index_for_hash(quarter - 1, 4), 0);
        assert_eq!(shard_index_for_hash(quarter, 4), 1);
        assert_eq!(shard_index_for_hash(u128::MAX, 1), 0);
        assert_eq!(shard_index_for_hash(u128::MAX, 3), 2);
        // 3 shards: width floor(2^128/3) = 0x5555...5555
        let third = u128::MAX / 3;
        assert_eq!(shard_index_for_hash(third - 1, 3), 0);
        assert_eq!(shard_index_for_hash(third, 3), 1);
    }

    #[test]
    fn even_map_agrees_with_index_function() {
        for n in [1u32, 2, 3, 4, 7, 16, 1000] {
            let map = ShardMap::even(n);
            assert_eq!(map.len(), n as usize);
            for k in 0..200 {
                let h = hash_key_of(&format!("k{k}"));
                assert_eq!(map.index_of(h), Some(shard_index_for_hash(h, n) as usize));
            }
            assert_eq!(map.index_of(u128::MAX), Some(n as usize - 1));
            assert_eq!(map.index_of(0), Some(0));
        }
    }

    #[test]
    fn map_with_gaps_and_overlaps() {
        let map = ShardMap::from_ranges(vec![(100, 199, "b".into()), (0, 49, "a".into())]).unwrap();
        assert_eq!(map.index_of(10), Some(0));
        assert_eq!(map.index_of(60), None);
        assert_eq!(map.index_of(150), Some(1));
        assert_eq!(map.shard_id(1), Some("b"));
        assert!(ShardMap::from_ranges(vec![(0, 10, "a".into()), (10, 20, "b".into())]).is_err());
    }
}
