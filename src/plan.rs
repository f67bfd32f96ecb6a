//! Planning without sending: the batches a dispatcher would make and the records it would refuse.

use crate::error::{OptionError, RecordError};
use crate::limits::Limits;
use crate::packing::{Batch, Packer, RecordSize};
use crate::partition_key::{KeyPath, KeySource};
use crate::record::{accept, Entropy, KeyInput};

struct Planned {
    index: usize,
    partition_key: String,
    size: usize,
}

impl RecordSize for Planned {
    fn size(&self) -> usize {
        self.size
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBatch {
    /// Input positions of the batch's records.
    pub indices: Vec<usize>,
    pub partition_keys: Vec<String>,
    /// Data plus key bytes.
    pub bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: usize,
    pub error: RecordError,
}

pub struct Planner {
    limits: Limits,
    key_source: KeySource,
    packer: Packer<Planned>,
    batches: Vec<PlannedBatch>,
    rejected: Vec<Rejected>,
    next_index: usize,
}

impl Planner {
    pub fn new(limits: Limits, partition_key_identifier: Option<&str>) -> Result<Self, OptionError> {
        let key_source = match partition_key_identifier {
            None => KeySource::Random,
            Some(identifier) => KeySource::Path(KeyPath::parse(identifier)?),
        };
        Ok(Self { packer: Packer::new(limits), limits, key_source, batches: Vec::new(), rejected: Vec::new(), next_index: 0 })
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
                self.packer.push(Planned { index, partition_key: a.partition_key, size: a.size });
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

    fn collect(&mut self) {
        while let Some(Batch { records, bytes }) = self.packer.pop_ready() {
            let (indices, partition_keys) = records.into_iter().map(|r| (r.index, r.partition_key)).unzip();
            self.batches.push(PlannedBatch { indices, partition_keys, bytes });
        }
    }

    pub fn finish(mut self) -> (Vec<PlannedBatch>, Vec<Rejected>) {
        self.packer.close();
        self.collect();
        (self.batches, self.rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RecordErrorCode;
    use crate::record::SeededEntropy;

    #[test]
    fn plans_batches_and_rejections_by_index() {
        let limits = Limits { max_batch_size: 2, max_record_bytes: 20, max_request_bytes: 100 };
        assert_eq!(Planner::new(limits, Some("")).err().unwrap().option, "partitionKeyIdentifier");
        let mut p = Planner::new(limits, Some("id")).unwrap();
        let e = &mut SeededEntropy(3);
        p.add(br#"{"id":"a"}"#, KeyInput::Default, None, e).unwrap();
        assert!(p.add(br#"{"x":"a"}"#, KeyInput::Default, None, e).is_err());
        p.add(br#"{"id":"b","x":1}"#, KeyInput::Default, None, e).unwrap();
        assert!(p.add(br#"{"id":"c","x":12345}"#, KeyInput::Default, None, e).is_err());
        p.add(b"{}", KeyInput::Given("d"), None, e).unwrap();
        let (batches, rejected) = p.finish();
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
}
