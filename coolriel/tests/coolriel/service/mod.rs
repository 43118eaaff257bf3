//! The service in-process against the real broker, in three parts: the emails and the
//! history written for each event ([`emails`]), what happens to messages and handlers that
//! fail ([`failures`]), and the consumer group as instances and topics come and go
//! ([`group`]).

mod emails;
mod failures;
mod group;

/// The partitions of each test's topic.
const PARTITIONS: i32 = 3;
