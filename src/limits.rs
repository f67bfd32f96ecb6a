//! Kinesis limits and the validated packing limits built from options.

use crate::error::OptionError;

pub const MAX_RECORDS_PER_REQUEST: usize = 500;
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;
pub const MAX_RECORD_BYTES: usize = 10 * 1024 * 1024;
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// Counted in UTF-16 code units, as the Java-based service does.
pub const MAX_PARTITION_KEY_UNITS: usize = 256;
/// What one shard accepts per second.
pub const SHARD_RECORDS_PER_SECOND: usize = 1000;
pub const SHARD_BYTES_PER_SECOND: usize = 1024 * 1024;

/// Limits a batch must respect. Sizes count data bytes plus partition-key UTF-8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_batch_size: usize,
    pub max_record_bytes: usize,
    pub max_request_bytes: usize,
    /// What the record limit is, for messages: the option, or the stream's own limit once read.
    pub record_limit_name: &'static str,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch_size: MAX_RECORDS_PER_REQUEST,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            record_limit_name: "maxRecordBytes",
        }
    }
}

impl Limits {
    pub fn new(max_batch_size: Option<f64>, max_record_bytes: Option<f64>, max_request_bytes: Option<f64>) -> Result<Self, OptionError> {
        let d = Self::default();
        Ok(Self {
            max_batch_size: whole_in_range("maxBatchSize", max_batch_size, d.max_batch_size, 1, MAX_RECORDS_PER_REQUEST)?,
            max_record_bytes: whole_in_range("maxRecordBytes", max_record_bytes, d.max_record_bytes, 1, MAX_RECORD_BYTES)?,
            max_request_bytes: whole_in_range("maxRequestBytes", max_request_bytes, d.max_request_bytes, 1, MAX_REQUEST_BYTES)?,
            ..d
        })
    }

    /// The largest record that can be sent: it must fit a record and a request.
    pub fn record_ceiling(&self) -> usize {
        self.max_record_bytes.min(self.max_request_bytes)
    }
}

/// Options arrive from JS as numbers; accept only whole numbers in range.
pub fn whole_in_range(option: &'static str, value: Option<f64>, default: usize, min: usize, max: usize) -> Result<usize, OptionError> {
    let Some(v) = value else { return Ok(default) };
    if !v.is_finite() || v.fract() != 0.0 || v < min as f64 || v > max as f64 {
        return Err(OptionError::new(option, format!("must be a whole number from {min} to {max}, got {}", shown(v))));
    }
    Ok(v as usize)
}

/// Shows a rejected number without pulling float formatting (about 20 KB of wasm) into the build.
fn shown(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        (v as i64).to_string()
    } else {
        "a fractional number".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design() {
        let l = Limits::new(None, None, None).unwrap();
        assert_eq!(l, Limits { max_batch_size: 500, max_record_bytes: 1_048_576, max_request_bytes: 5_242_880, ..Limits::default() });
    }

    #[test]
    fn bounds_are_inclusive() {
        assert!(Limits::new(Some(1.0), Some(10_485_760.0), Some(10_485_760.0)).is_ok());
        assert_eq!(Limits::new(Some(501.0), None, None).unwrap_err().option, "maxBatchSize");
        assert_eq!(Limits::new(Some(0.0), None, None).unwrap_err().option, "maxBatchSize");
        assert_eq!(Limits::new(None, Some(10_485_761.0), None).unwrap_err().option, "maxRecordBytes");
        assert_eq!(Limits::new(None, None, Some(10_485_761.0)).unwrap_err().option, "maxRequestBytes");
        assert!(Limits::new(Some(2.5), None, None).is_err());
        assert!(Limits::new(Some(f64::NAN), None, None).is_err());
    }

    #[test]
    fn a_record_must_also_fit_a_request() {
        let l = Limits::new(None, Some(10_485_760.0), Some(2_000_000.0)).unwrap();
        assert_eq!(l.record_ceiling(), 2_000_000);
    }
}
