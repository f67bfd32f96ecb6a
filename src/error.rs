//! Typed errors. Codes are the contract's `KinesisBatchError.code` values.

use std::fmt;

/// Why a record was refused at submit. The record is never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordErrorCode {
    RecordTooLarge,
    MissingPartitionKey,
    InvalidPartitionKey,
    InvalidExplicitHashKey,
    UnserializablePayload,
}

impl RecordErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecordTooLarge => "RecordTooLarge",
            Self::MissingPartitionKey => "MissingPartitionKey",
            Self::InvalidPartitionKey => "InvalidPartitionKey",
            Self::InvalidExplicitHashKey => "InvalidExplicitHashKey",
            Self::UnserializablePayload => "UnserializablePayload",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub code: RecordErrorCode,
    pub message: String,
}

impl RecordError {
    pub fn new(code: RecordErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for RecordError {}

/// A configuration value out of range; code `InvalidOption`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    pub option: &'static str,
    pub message: String,
}

impl OptionError {
    pub const CODE: &'static str = "InvalidOption";

    pub fn new(option: &'static str, message: impl Into<String>) -> Self {
        Self { option, message: message.into() }
    }
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InvalidOption: {}: {}", self.option, self.message)
    }
}

impl std::error::Error for OptionError {}
